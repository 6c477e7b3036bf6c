"""Sharing agreements: consent withholds rows, unshared fields are never read, expired agreements stop runs."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys

import pytest
from conftest import ROOT, write

from pace_linkage.config import load_config
from pace_linkage.errors import SharingError
from pace_linkage.ingest.sources import assemble, count_totals, ingest_source, normalise_source
from pace_linkage.pipeline import DEFAULT_FEATURES, read_batch
from pace_linkage.study.sharing import check_agreements

CFG = """
fields:
  surname: {kind: name}
  dob: {kind: dob}
  phone: {kind: phone}
identifying_fields: [surname, dob]
sources:
  items:
    - name: p
      file: p.csv
      record_id: id
      columns: {surname: Surname, dob: DOB, phone: Tel}
      sharing: {consent_column: Consent, allowed_fields: [surname, dob], expires: EXPIRES}
linkage:
  blocking: [{name: s, on: [surname]}]
  comparisons: [{name: surname, column: surname, levels: [{type: exact}]}]
"""
ROWS = "id,Surname,DOB,Tel,Consent\n1,Smith,1980-01-02,0131 496 0001,Y\n2,Jones,1981-02-03,0131 496 0002,N\n" \
       "3,Brown,1982-03-04,0131 496 0003,\n4,Black,1983-04-05,0131 496 0004,yes\n5,White\n"


@pytest.fixture
def cfg(tmp_path):
    write(tmp_path / "p.csv", ROWS)
    return load_config(write(tmp_path / "pace.yaml", CFG.replace("EXPIRES", "2099-12-31")))


def test_rows_without_consent_are_withheld_and_counted_never_linked(tmp_path, cfg):
    src = cfg.sources.items[0]
    batch = read_batch(src, cfg, tmp_path)
    records = assemble([batch])
    assert sorted(records["record_id"]) == ["1", "4"]
    assert batch.rows_withheld == 2 and batch.rows_quarantined == 1  # row 5 is ragged
    c = count_totals([batch], [])
    assert c["rows_in"] == 5 == c["rows_accepted"] + c["rows_quarantined"] + c["rows_withheld"]
    assert "Jones" not in batch.quarantine.to_csv()  # withheld rows are not kept in the quarantine either


def test_a_field_outside_the_agreement_is_never_read(tmp_path, cfg):
    src = cfg.sources.items[0]
    batch = ingest_source(src, cfg, tmp_path, features=DEFAULT_FEATURES)
    assert "phone" not in batch.records.columns
    records = assemble([normalise_source(batch, src, cfg, features=DEFAULT_FEATURES)])
    assert records["phone"].isna().all()


def test_an_expired_agreement_fails_the_run_with_one_line_naming_partner_and_date(tmp_path):
    cfg = load_config(write(tmp_path / "pace.yaml", CFG.replace("EXPIRES", "2020-06-30")))
    with pytest.raises(SharingError) as err:
        check_agreements(cfg, today=dt.date(2026, 1, 1))
    assert str(err.value).count("\n") == 0
    assert "'p' expired on 2020-06-30" in str(err.value) and "sharing.expires" in str(err.value)
    res = subprocess.run([sys.executable, "-m", "flows", "run", "--extracts", str(tmp_path), "--out",
                          str(tmp_path / "out"), "--config", str(tmp_path / "pace.yaml")],
                         capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert res.returncode == 4 and len(res.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_allowed_fields_must_be_declared_fields(tmp_path):
    from pace_linkage.errors import ConfigError

    bad = CFG.replace("EXPIRES", "2099-12-31").replace("allowed_fields: [surname, dob]", "allowed_fields: [surname, nino]")
    with pytest.raises(ConfigError, match="sharing.allowed_fields: 'nino' is not a declared field"):
        load_config(write(tmp_path / "pace.yaml", bad))


# ---------------------------------------------------------------------------------- release back
RELEASE_CFG = """
fields:
  surname: {kind: name}
  phone: {kind: phone}
  email: {kind: email}
identifying_fields: [surname]
sources:
  items:
    - {name: a, file: a.csv, record_id: id, columns: {surname: S, phone: T, email: E},
       sharing: {release_to: RELEASE}}
    - {name: b, file: b.csv, record_id: id, columns: {surname: S, phone: T}}
    - {name: c, file: c.csv, record_id: id, columns: {surname: S, phone: T}}
linkage:
  blocking: [{name: s, on: [surname]}]
  comparisons: [{name: surname, column: surname, levels: [{type: exact}]}]
"""


def release_frames():
    """Person P1: records a/1, b/1, b/2; person P2: a/2 and c/1; person P3: c/2 alone."""
    import pandas as pd

    keys = [("a", "1", "P1"), ("a", "2", "P2"), ("b", "1", "P1"), ("b", "2", "P1"), ("c", "1", "P2"), ("c", "2", "P3")]
    records = pd.DataFrame({"source": [k[0] for k in keys], "record_id": [k[1] for k in keys],
                            "phone": ["+441", "+442", "+443", "+444", "+445", "+446"],
                            "email": ["a1@x.uk", None, None, None, None, None]}, dtype="string")
    clusters = pd.DataFrame({"source": [k[0] for k in keys], "record_id": [k[1] for k in keys],
                             "pace_id": [k[2] for k in keys]})
    return records, clusters


def release_config(tmp_path, release: str):
    return load_config(write(tmp_path / "pace.yaml", RELEASE_CFG.replace("RELEASE", release)))


def test_released_values_go_only_to_recipients_holding_the_same_person(tmp_path):
    from pace_linkage.study.sharing import outbound_view, released_fields

    records, clusters = release_frames()
    cfg = release_config(tmp_path, "{b: [phone, email]}")
    rel = released_fields(records, clusters, cfg)
    assert rel.values.tolist() == [["b", "P1", "a", "email", "a1@x.uk"], ["b", "P1", "a", "phone", "+441"]]
    # c holds P2 with a, but a releases nothing to c; nobody receives b's or c's values (no agreement)
    view = outbound_view(clusters, rel, "b", "pace_id")
    rows = view.astype(object).where(view.notna(), None).values.tolist()
    assert rows[:3] == [["1", "P1", "b", None, None], ["1", "P1", "a", "email", "a1@x.uk"],
                        ["1", "P1", "a", "phone", "+441"]]  # each own record, then what it receives
    assert len(view) == 2 + 2 * 2  # both of b's records get a's two values about P1
    assert outbound_view(clusters, rel, "c", "pace_id")["field"].isna().all()


def test_release_to_every_partner_expands_to_the_others_and_never_back_to_the_sender(tmp_path):
    from pace_linkage.study.sharing import released_fields

    records, clusters = release_frames()
    rel = released_fields(records, clusters, release_config(tmp_path, '{"*": [phone]}'))
    assert sorted(map(tuple, rel[["to_source", "pace_id", "value"]].values.tolist())) == [
        ("b", "P1", "+441"), ("c", "P2", "+442")]
    assert set(rel["from_source"]) == {"a"}


@pytest.mark.parametrize("release,message", [
    ("{z: [phone]}", "sharing.release_to.z: not a source"),
    ("{a: [phone]}", "sharing.release_to.a: a partner does not release its own records to itself"),
    ("{b: [dob]}", "sharing.release_to.b: 'dob' is not a field this partner shares into the centre"),
])
def test_a_release_to_an_unknown_partner_or_of_an_unshared_field_is_refused(tmp_path, release, message):
    from pace_linkage.errors import ConfigError

    with pytest.raises(ConfigError, match=message):
        release_config(tmp_path, release)

"""Sharing agreements: consent withholds rows, unshared fields are never read, expired agreements stop runs."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys

import pytest
from conftest import ROOT, write

from pace_linkage.config import load_config
from pace_linkage.errors import SharingError
from pace_linkage.sharing import check_agreements
from pace_linkage.sources import assemble, count_totals, ingest_source, normalise_source

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
    batch = normalise_source(ingest_source(src, cfg, tmp_path), src, cfg)
    records = assemble([batch])
    assert sorted(records["record_id"]) == ["1", "4"]
    assert batch.rows_withheld == 2 and batch.rows_quarantined == 1  # row 5 is ragged
    c = count_totals([batch], [])
    assert c["rows_in"] == 5 == c["rows_accepted"] + c["rows_quarantined"] + c["rows_withheld"]
    assert "Jones" not in batch.quarantine.to_csv()  # withheld rows are not kept in the quarantine either


def test_a_field_outside_the_agreement_is_never_read(tmp_path, cfg):
    src = cfg.sources.items[0]
    batch = ingest_source(src, cfg, tmp_path)
    assert "phone" not in batch.records.columns
    records = assemble([normalise_source(batch, src, cfg)])
    assert records["phone"].isna().all()


def test_an_expired_agreement_fails_the_run_with_one_line_naming_partner_and_date(tmp_path):
    cfg = load_config(write(tmp_path / "pace.yaml", CFG.replace("EXPIRES", "2020-06-30")))
    with pytest.raises(SharingError) as err:
        check_agreements(cfg, today=dt.date(2026, 1, 1))
    assert str(err.value).count("\n") == 0
    assert "'p' expired on 2020-06-30" in str(err.value) and "sharing.expires" in str(err.value)
    res = subprocess.run([sys.executable, "-m", "pace_linkage", "run", "--extracts", str(tmp_path), "--out",
                          str(tmp_path / "out"), "--config", str(tmp_path / "pace.yaml")],
                         capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert res.returncode == 4 and len(res.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_allowed_fields_must_be_declared_fields(tmp_path):
    from pace_linkage.errors import ConfigError

    bad = CFG.replace("EXPIRES", "2099-12-31").replace("allowed_fields: [surname, dob]", "allowed_fields: [surname, nino]")
    with pytest.raises(ConfigError, match="sharing.allowed_fields: 'nino' is not a declared field"):
        load_config(write(tmp_path / "pace.yaml", bad))

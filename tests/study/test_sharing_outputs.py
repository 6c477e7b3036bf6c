"""RELIABILITY 29: a field outside a partner's ``allowed_fields`` appears in no output and no intermediate file.

Partner ``p`` holds e-mail and telephone but its agreement shares only surname, first name, date of birth and
postcode; partner ``q`` shares its e-mail. After a full flow run with a central store, every file the run wrote
(outputs, quarantine files, the DuckDB store, everything under PREFECT_HOME) is scanned for p's e-mails and
telephone numbers in raw and normalised form, and the columns of every table are checked for p's rows.
"""

from __future__ import annotations

import json

import pandas as pd
import pytest
from conftest import write

pytestmark = pytest.mark.e2e

CFG = """
fields:
  first_name: {kind: name}
  surname: {kind: name}
  dob: {kind: dob}
  postcode: {kind: postcode}
  email: {kind: email}
  phone: {kind: phone}
identifying_fields: [surname, dob, postcode]
sources:
  items:
    - name: p
      file: p.csv
      record_id: id
      columns: {first_name: First, surname: Surname, dob: DOB, postcode: Postcode, email: Email, phone: Tel}
      sharing: {allowed_fields: [first_name, surname, dob, postcode]}
    - name: q
      file: q.csv
      record_id: ref
      columns: {first_name: Forename, surname: Surname, dob: Birth, postcode: PC, email: Mail}
linkage:
  blocking: [{name: dob, on: [dob]}, {name: pc, on: [postcode]}]
  comparisons:
    - {name: surname, column: surname, levels: [{type: exact}, {type: jaro_winkler, threshold: 0.9}]}
    - {name: first_name, column: first_name, levels: [{type: exact}]}
    - {name: dob, column: dob, levels: [{type: exact}]}
    - {name: postcode, column: postcode, levels: [{type: exact}]}
    - {name: email, column: email, levels: [{type: exact}]}
  threshold: 0.5
report: {small_count_threshold: 0}
"""
SURNAMES = ["Abernethy", "Balfour", "Cochrane", "Drummond", "Elphinstone", "Fairbairn", "Galbraith", "Haldane"]
FIRST = ["Alasdair", "Bethany", "Calum", "Deirdre", "Euan", "Fiona", "Gregor", "Hamish"]


def _p_rows() -> tuple[str, list[str]]:
    lines, secrets = ["id,First,Surname,DOB,Postcode,Email,Tel"], []
    for i, (f, s) in enumerate(zip(FIRST, SURNAMES, strict=True)):
        email, tel = f"unshared.{s.lower()}{i}@example.org", f"07700 9{i:02d}{i:03d}"
        secrets += [email, tel, f"+4477009{i:02d}{i:03d}"]
        lines.append(f"P{i},{f},{s},19{70 + i}-0{1 + i}-1{i},EH{i} 1AB,{email},{tel}")
    lines.append("P90,,,,,unshared.noid@example.org,07700 990990")  # no identifying field: quarantined late
    lines.append("P91,Ragged,Row,1999-01-01,EH1 1AA,unshared.ragged@example.org,07700 991991,extra")  # ragged
    secrets += ["unshared.noid@example.org", "07700 990990", "unshared.ragged@example.org", "07700 991991"]
    return "\n".join(lines) + "\n", secrets


def _q_rows() -> str:
    lines = ["ref,Forename,Surname,Birth,PC,Mail"]
    for i, (f, s) in enumerate(zip(FIRST, SURNAMES, strict=True)):
        lines.append(f"Q{i},{f},{s},19{70 + i}-0{1 + i}-1{i},EH{i} 1AB,shared.{s.lower()}@mail.scot")
    return "\n".join(lines) + "\n"


def _tables(path) -> list[pd.DataFrame]:
    if path.suffix == ".csv":
        return [pd.read_csv(path, dtype=str, keep_default_na=False)]
    if path.suffix == ".parquet":
        return [pd.read_parquet(path)]
    return []


def test_an_unshared_field_appears_in_no_output_store_or_prefect_file(prefect_harness, prefect_home, tmp_path):
    from flows.pipeline import pace_linkage_pipeline

    ext = tmp_path / "extracts"
    p_text, secrets = _p_rows()
    write(ext / "p.csv", p_text)
    write(ext / "q.csv", _q_rows())
    cfg = write(tmp_path / "pace.yaml", CFG)
    out, store = tmp_path / "out", tmp_path / "centre" / "central.duckdb"
    store.parent.mkdir()
    pace_linkage_pipeline(extracts=str(ext), out=str(out), config=str(cfg), run_id="r29", store=str(store))

    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["counts"]["by_source"]["p"]["rows_quarantined"] == 2  # the checks below see quarantined rows
    clusters = pd.read_csv(out / "clusters.csv", dtype=str)
    assert clusters.groupby("pace_id")["source"].nunique().max() == 2  # p and q did link

    scanned = 0
    for root in (out, store.parent, prefect_home):
        for path in (x for x in root.rglob("*") if x.is_file()):
            data = path.read_bytes().lower()
            hits = [s for s in secrets if s.lower().encode() in data]
            assert not hits, f"{path.name} holds an unshared value"
            scanned += 1
            for table in _tables(path):
                if "source" in table.columns and "email" in table.columns:
                    assert (table.loc[table["source"] == "p", "email"].fillna("") == "").all(), path.name
    assert scanned > 10
    quarantine = (out / "quarantine" / "p.csv").read_text()
    assert "Email" not in quarantine and "P90" in quarantine  # raw rows keep the shared columns only
    # the store's file is compressed, so read every table through DuckDB as well
    import duckdb

    con = duckdb.connect(str(store), read_only=True)
    text = ""
    tables = con.execute("select table_schema, table_name from information_schema.tables").fetchall()
    for schema, table in tables:
        text += con.execute(f'select * from "{schema}"."{table}"').df().to_csv().lower()
    con.close()
    assert "shared.abernethy@mail.scot" in text  # q's e-mail is stored: the scan sees stored values
    assert not [s for s in secrets if s.lower() in text]

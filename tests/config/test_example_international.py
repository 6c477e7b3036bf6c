"""config/examples/international.yaml loads, and its two sources read a split date, joined names and foreign
postal codes into the same clean values."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

from conftest import write

from pace_linkage.config import DateParts, load_config
from pace_linkage.ingest.sources import ingest_source, normalise_source

EXAMPLE = Path(__file__).resolve().parents[2] / "config" / "examples" / "international.yaml"


def test_the_example_loads_with_date_parts_and_a_postal_code():
    cfg = load_config(EXAMPLE)
    clinic = {s.name: s for s in cfg.sources.items}["clinic"]
    assert isinstance(clinic.columns["dob"], DateParts)
    assert cfg.fields["postal_code"].kind == "postal_code"


def test_both_sources_give_the_same_clean_person(tmp_path):
    cfg = load_config(shutil.copy(EXAMPLE, tmp_path / "international.yaml"))
    write(tmp_path / "clinic.csv",
          "PatientID,GivenName,FamilyName1,FamilyName2,BirthYear,BirthMonth,BirthDay,Gender,Zip,Street,City,Email\n"
          "c1,Ana,Garcia,Lopez,1984,2,9,F,1012 ab,Calle 1,Madrid,ana.garcia@mail.es\n")
    write(tmp_path / "college.jsonl",
          '{"student_id": "s1", "first": "ANA", "last": "garcia lopez", "birth_date": "02/09/1984", '
          '"postal": "1012AB", "mail": "Ana.Garcia@mail.es"}\n')
    clean = {}
    for src in cfg.sources.items:
        batch = normalise_source(ingest_source(src, cfg, tmp_path, features=[]), src, cfg,
                                 today=dt.date(2026, 1, 1), features=[])
        clean[src.name] = batch.records.iloc[0]
    for col in ("surname", "dob", "postal_code", "postal_code_prefix3", "email_user"):
        assert clean["clinic"][col] == clean["college"][col], col
    assert clean["clinic"]["dob"] == "1984-02-09"

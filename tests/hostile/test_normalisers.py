"""Normalisers are total and idempotent and hold the NINO / postcode / DOB rules."""

from __future__ import annotations

import datetime as dt
import importlib
import re
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pace_linkage.config import FieldSpec
from pace_linkage.normalise import REASONS, date, dob, name_sound, nino, normalise_records, postcode

TODAY = dt.date(2025, 3, 31)
PROPS = settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
ADMIN = ["OO", "CR", "FY", "MW", "NC", "PP", "PY", "PZ"]
NEVER = ["BG", "GB", "KN", "NK", "NT", "TN", "ZZ"]
SCALAR_NORMALISERS = ["nino", "postcode", "dob", "name", "name_canon", "sex", "phone", "email", "text", "ident"]


def test_every_scalar_normaliser_has_a_property_test_of_at_least_1000_examples(monkeypatch):
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[1] / "normalise"))
    props = importlib.import_module("test_normalise_properties")
    tests = {n: getattr(props, n) for n in dir(props) if n.startswith("test_") and "_is_total" in n}
    for normaliser in SCALAR_NORMALISERS:
        found = [t for n, t in tests.items() if n.startswith(f"test_{normaliser}_is_total")]
        assert found, f"no property test for {normaliser}"
        assert all(t._hypothesis_internal_use_settings.max_examples >= 1000 for t in found), normaliser


# The two scalar normalisers the main property file does not cover.
@PROPS
@given(st.one_of(st.text(), st.dates(min_value=dt.date(1800, 1, 1), max_value=dt.date(2200, 1, 1)).map(
    lambda d: d.strftime("%d/%m/%Y"))))
def test_date_is_total_not_before_1900_and_stable_through_its_iso_form(raw):
    out = date(raw, today=TODAY)
    assert out is None or out >= dt.date(1900, 1, 2)  # 1900-01-01 is a placeholder
    if out is not None:
        assert date(out.isoformat(), today=TODAY) == out


@PROPS
@given(st.text())
def test_name_sound_is_total_and_a_soundex_code(raw):
    out = name_sound(raw, given_name=False)
    assert out is None or re.fullmatch(r"[A-Z][0-9]{3}", out)


@PROPS
@given(st.sampled_from(ADMIN + NEVER + ["AB", "JG", "QQ", "XX"]), st.text(alphabet="0123456789 ", min_size=6,
                                                                          max_size=9),
       st.sampled_from(["", "A", "D", " c", "E"]), st.booleans())
def test_nino_never_returns_an_administrative_or_unallocated_prefix(prefix, digits, suffix, lower):
    raw = prefix + digits + suffix
    out = nino(raw.lower() if lower else raw)
    assert out is None or out[:2] not in {*ADMIN, *NEVER, "QQ", "XX"}
    assert out is None or re.fullmatch(r"[A-Z]{2}[0-9]{6}", out)


def test_property_10_cases_become_null_with_their_reason_through_normalise_records():
    raw = pd.DataFrame({
        "source": "p", "record_id": [str(i) for i in range(8)], "line": range(2, 10),
        "nino": ["OO123457A", "cr 12 34 57 a", "PZ123457", "FY123457B", "MW123457C", "NC123457D", "PP123457A",
                 "PY123457A"],
        "dob": ["1900-01-01", "01/01/1900", "2031-05-01", "1899-12-31", "12/03/1980", "31/02/1983", "", None],
        "postcode": ["sw1a1aa", "SW1A1AA", " sw1a 1aa ", "EH1 2AB", "ZZ1 1ZZZ", "", None, "n/a"],
    })
    fields = {"nino": FieldSpec(kind="nino"), "dob": FieldSpec(kind="dob", placeholders=["1900-01-01"]),
              "postcode": FieldSpec(kind="postcode")}
    records, reasons = normalise_records(raw, fields, today=TODAY)
    assert records["nino"].isna().all()
    assert records["dob"].tolist()[:5] == [pd.NA, pd.NA, pd.NA, pd.NA, "1980-03-12"]
    assert records["postcode"].tolist()[:4] == ["SW1A 1AA", "SW1A 1AA", "SW1A 1AA", "EH1 2AB"]
    counts = {(r.field, r.reason): r.count for r in reasons.itertuples()}
    assert counts[("nino", "nino_administrative")] == 8
    assert counts[("dob", "dob_placeholder")] == 2
    assert counts[("dob", "dob_future")] == 1 and counts[("dob", "dob_before_earliest")] == 1
    assert counts[("dob", "dob_unparseable")] == 1
    assert set(reasons["reason"]) <= set(REASONS)
    assert records.loc[0, "flags"] == "dob_placeholder;nino_administrative"


@pytest.mark.parametrize("raw", ["AB123456C", "ab 12 34 56 c", "AB-123456-C", "AB123456", "ab123456d"])
def test_the_nino_linkage_key_is_the_eight_character_stem(raw):
    assert nino(raw) == raw.upper().replace(" ", "").replace("-", "")[:8]


@pytest.mark.parametrize("raw", ["sw1a1aa", "SW1A1AA", "sw1a 1aa", " SW1A  1AA "])
def test_postcode_sw1a1aa_becomes_sw1a_1aa(raw):
    assert postcode(raw) == "SW1A 1AA"


@pytest.mark.parametrize("raw", ["1900-01-01", "01/01/1900", "19000101", "2026-01-01", "1899-06-30"])
def test_dob_placeholders_future_and_pre_1900_dates_are_null(raw):
    assert dob(raw, today=TODAY) is None

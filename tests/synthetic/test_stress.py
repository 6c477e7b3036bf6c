"""Blocking stress data: one error type per second record, written from what the error is, deterministic."""

from __future__ import annotations

import jellyfish
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from synthetic import stress

LATEST = np.datetime64("2025-03-31", "D")


def people(n: int = 200, seed: int = 5) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    first = rng.choice(["ROBERT", "CATHERINE", "PHILIP", "AILSA", "JAMES", "MORAG"], n)
    sur = rng.choice(["MACDONALD", "STEWART", "KELLY", "SMITH", "ROBERTSON", "FRASER"], n)
    dob = np.datetime64("1950-01-01", "D") + rng.integers(0, 20000, n).astype("timedelta64[D]")
    return pd.DataFrame({
        "first_name": pd.array(first, dtype="string"), "surname": pd.array(sur, dtype="string"),
        "nickname": pd.array(np.where(first == "ROBERT", "BOB", None), dtype="string"),
        "former_surname": pd.array([None] * n, dtype="string"),
        "postcode": pd.array(rng.choice(["EH1 1AA", "G2 3BB", "AB10 1XY"], n), dtype="string"),
        "previous_postcode": pd.array(rng.choice(["KA1 1AA", "DD1 4HN"], n), dtype="string"),
        "nino": pd.array(np.where(rng.random(n) < 0.8, "AB123456C", None), dtype="string"),
        "sex": pd.array(rng.choice(["M", "F"], n), dtype="string"), "dob": dob,
    })


TOUCHES = {
    "name_swap": {"first_name", "surname"}, "nickname": {"first_name"}, "spelling": {"first_name", "surname"},
    "marriage": {"surname"}, "double_barrelled": {"surname"}, "dob_day_month": {"dob"}, "dob_one_day": {"dob"},
    "dob_one_year": {"dob"}, "dob_one_digit": {"dob"}, "moved": {"postcode"}, "missing_nino": {"nino"},
    "typos_both_names": {"first_name", "surname"},
}


@pytest.mark.parametrize("error", stress.ERROR_TYPES)
def test_each_error_changes_only_its_fields_and_only_in_the_second_record(error):
    p = people()
    rec, changed = stress.stress_records(p, error, seed=1, latest=LATEST)
    n = len(p)
    a, b = rec.iloc[:n].reset_index(drop=True), rec.iloc[n:].reset_index(drop=True)
    assert changed.sum() > n // 4  # a high rate wherever it can apply
    for col in stress.COLUMNS:
        differs = (a[col].fillna("<null>") != b[col].fillna("<null>")).to_numpy()
        if col in TOUCHES[error]:
            assert differs[changed].any() and not differs[~changed].any()
        else:
            assert not differs.any(), col
    again, _ = stress.stress_records(p, error, seed=1, latest=LATEST)
    pd.testing.assert_frame_equal(rec, again)


def test_date_errors_are_what_they_say():
    p = people()
    n = len(p)
    for error, check in (
        ("dob_one_day", lambda x, y: abs((y - x).days) == 1),
        ("dob_one_year", lambda x, y: abs(y.year - x.year) == 1 and (y.month, y.day) == (x.month, x.day)
         or (x.month, x.day) == (2, 29)),
        ("dob_day_month", lambda x, y: (y.year, y.month, y.day) == (x.year, x.day, x.month)),
        ("dob_one_digit", lambda x, y: sum(c != d for c, d in zip(x.strftime("%Y%m%d"), y.strftime("%Y%m%d"),
                                                                   strict=True)) == 1),
    ):
        rec, changed = stress.stress_records(p, error, seed=2, latest=LATEST)
        x = pd.to_datetime(rec["dob"].iloc[:n])[changed]
        y = pd.to_datetime(rec["dob"].iloc[n:]).reset_index(drop=True)[changed]
        assert all(check(u, v) for u, v in zip(x, y, strict=True)), error


@settings(max_examples=50, deadline=None)
@given(st.lists(st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=2, max_size=12), min_size=1, max_size=30),
       st.integers(0, 2**32 - 1))
def test_a_slip_is_one_edit_or_transposition_away(values, seed):
    out = stress.slip(np.array(values, dtype=object), np.random.default_rng(seed))
    assert all(jellyfish.damerau_levenshtein_distance(u, v) == 1 for u, v in zip(values, out, strict=True))


def test_mixed_records_carry_several_errors_at_once_and_are_deterministic():
    p = people(400)
    rec, count = stress.mixed_records(p, seed=3, latest=LATEST)
    assert len(rec) == 2 * len(p) and (count >= 2).sum() > len(p) // 4
    again, count2 = stress.mixed_records(p, seed=3, latest=LATEST)
    pd.testing.assert_frame_equal(rec, again)
    assert (count == count2).all()

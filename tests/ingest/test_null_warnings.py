"""No silent nulls: values a normaliser nulled are counted by reason per source and column, and a reason over the
warning share, or a date column written in the other day/month order, is a warning naming source and column."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from conftest import write

from pace_linkage.config import load_config
from pace_linkage.ingest.nulls import DAY_MONTH, NULL_SHARE, normalise_warnings
from pace_linkage.ingest.sources import coverage
from pace_linkage.pipeline import read_batches

CFG = """
reference_date: 2025-03-31
fields:
  surname: {kind: name}
  dob: {kind: dob%s}
identifying_fields: [surname]
sources:
  items:
    - {name: p, file: p.csv, record_id: id, columns: {surname: Surname, dob: Born on}%s}
linkage:
  blocking: [{name: s, on: [surname]}]
  comparisons: [{name: surname, column: surname, levels: [{type: exact}]}]
"""
SURNAMES = ["Smith", "Brown", "Wilson", "Taylor", "Reid", "Young", "Scott", "Ross"]


def _dates(n: int, start: dt.date, seed: int = 3) -> list[dt.date]:
    rng = np.random.default_rng(seed)
    return [start + dt.timedelta(days=int(d)) for d in rng.integers(0, 365 * 40, n)]


def _run(tmp_path, dates: list[str], field: str = "", source: str = ""):
    cfg = load_config(write(tmp_path / "pace.yaml", CFG % (field, source)))
    rows = [f"{i},{SURNAMES[i % len(SURNAMES)]},{d}" for i, d in enumerate(dates)]
    write(tmp_path / "x" / "p.csv", "id,Surname,Born on\n" + "\n".join(rows) + "\n")
    batches, failed = read_batches(cfg, tmp_path / "x", ())
    assert not failed
    cov = coverage(batches, cfg)
    return cfg, cov, normalise_warnings(cov, cfg)


def _no_values(dates: list[str], warnings: list[dict]) -> None:
    text = repr(warnings)
    assert not any(d in text for d in dates) and "Smith" not in text


def test_dates_all_before_1900_are_a_warning_naming_source_and_column_with_counts(tmp_path):
    dates = [d.strftime("%d/%m/%Y") for d in _dates(60, dt.date(1840, 1, 1))]
    cfg, cov, warnings = _run(tmp_path, dates)
    assert cov["p"]["dob"]["nulled"] == {"dob_before_earliest": 60} and cov["p"]["dob"]["valid"] == 0
    (w,) = warnings
    assert (w["kind"], w["source"], w["field"], w["column"], w["present"]) == (NULL_SHARE, "p", "dob", "Born on", 60)
    assert w["reasons"] == {"dob_before_earliest": 60}
    assert "source p, column 'Born on' (field dob)" in w["message"] and "earliest" in w["message"]
    _no_values(dates, warnings)
    _, cov, warnings = _run(tmp_path, dates, ", earliest: 1800-01-01, max_age: 200")
    assert cov["p"]["dob"]["valid"] == 60 and not warnings


@pytest.mark.parametrize("fmt", ['"%d/%m/%Y"', None])
def test_month_first_dates_under_a_day_first_order_are_a_warning(tmp_path, fmt):
    days = _dates(80, dt.date(1950, 1, 1))
    dates = [d.strftime("%m/%d/%Y") for d in days]
    source = f", formats: {{dob: {fmt}}}" if fmt else ""
    _, cov, warnings = _run(tmp_path, dates, source=source)
    later = sum(d.day > 12 for d in days)
    order = next(w for w in warnings if w["kind"] == DAY_MONTH)
    assert (order["source"], order["column"], order["fit_other"]) == ("p", "Born on", later)
    assert order["fit_both"] == 80 - later and order["fit_order"] == 0
    assert cov["p"]["dob"]["day_month"]["fit_other"] == later
    assert "source p, column 'Born on' (field dob)" in order["message"]
    if fmt:  # the month-first values are nulled, counted as wrong_format: never read another way
        assert cov["p"]["dob"]["nulled"] == {"dob_wrong_format": later}
        assert any(w["kind"] == NULL_SHARE and "dob_wrong_format" in w["reasons"] for w in warnings)
    _no_values(dates, warnings)


def test_clean_day_first_dates_warn_nothing_and_a_few_bad_values_stay_under_the_share(tmp_path):
    dates = [d.strftime("%d/%m/%Y") for d in _dates(100, dt.date(1950, 1, 1))]
    dates[:3] = ["not known", "31/02/1980", "01/01/1890"]
    _, cov, warnings = _run(tmp_path, dates, source=', formats: {dob: "%d/%m/%Y"}')
    assert cov["p"]["dob"]["nulled"] == {"dob_before_earliest": 1, "dob_wrong_format": 2}
    assert warnings == []
    cfg = load_config(write(tmp_path / "pace.yaml", (CFG % ("", ', formats: {dob: "%d/%m/%Y"}'))
                            + "report: {null_warning_share: 0.01}\n"))
    assert [w["reasons"] for w in normalise_warnings(cov, cfg)] == [{"dob_wrong_format": 2}]

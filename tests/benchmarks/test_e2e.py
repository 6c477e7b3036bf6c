"""The end-to-end benchmark (benchmarks/e2e.py, e2e_splink.py): the config's blocking rules as Splink SQL, Splink's
reading and cleaning of the raw extracts, the process measurement, and a tiny run of the Splink side."""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))

import bench_reference as br  # noqa: E402
import e2e  # noqa: E402
import e2e_splink  # noqa: E402

from pace_linkage.config import load_config  # noqa: E402
from pace_linkage.engine.keys import key_frame  # noqa: E402
from pace_linkage.engine.settings import BlockingRule  # noqa: E402

DATE_KEYS = ["year", "month", "day", "month_day", "day_month_set"]
# small pools, so that records often share a name, a birth year, or a day and month in the other order
NAMES = st.sampled_from([None, "ann", "anna", "al", "bob", "smith"])
DATES = st.one_of(st.sampled_from([None, "1955-03-04", "1955-04-03", "1956-03-04", "1955-03-05", "1955-12-03"]),
                  st.dates(min_value=dt.date(1950, 1, 1), max_value=dt.date(1960, 12, 31)).map(dt.date.isoformat))
RECORDS = st.lists(st.tuples(NAMES, NAMES, DATES), min_size=4, max_size=12)
PARTS = st.sampled_from([
    "first_name", "surname", "first_name_initial",
    *({"transform": t, "column": "dob"} for t in DATE_KEYS),
    {"transform": "prefix", "column": "surname", "length": 2},
    {"transform": "set", "columns": ["first_name", "surname"]},
    {"transform": "set", "columns": ["first_name_initial", "surname_initial"]},
])


def agreeing_pairs(keys: pd.DataFrame) -> set[tuple[int, int]]:
    """Record pairs (i < j) equal on every key column, none null."""
    n, out = len(keys), set()
    vals = keys.astype(object).where(keys.notna(), None).to_numpy()
    for i in range(n):
        for j in range(i + 1, n):
            if all(a is not None and a == b for a, b in zip(vals[i], vals[j], strict=True)):
                out.add((i, j))
    return out


SWAPPED = [("ann", "smith", "1955-03-04"), ("ann", "smith", "1955-04-03"), ("al", "bob", "1956-03-04"),
           ("smith", "ann", None), ("anna", "lee", "1955-03-04")]


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(records=RECORDS, parts=st.lists(PARTS, min_size=1, max_size=3))
@example(records=SWAPPED, parts=[{"transform": "day_month_set", "column": "dob"}])
@example(records=SWAPPED, parts=[{"transform": "year", "column": "dob"}, {"transform": "month_day", "column": "dob"}])
@example(records=SWAPPED, parts=["first_name_initial"])
@example(records=SWAPPED, parts=[{"transform": "set", "columns": ["first_name", "surname"]}])
@example(records=SWAPPED, parts=[{"transform": "prefix", "column": "first_name", "length": 2}])
def test_splink_blocking_sql_pairs_the_records_pace_linkage_blocking_pairs(records, parts):
    """The same rule, as pace-linkage keys and as Splink's SQL over the clean columns, pairs the same records."""
    frame = pd.DataFrame(records, columns=["first_name", "surname", "dob"]).astype("string")
    for c in ("first_name", "surname"):
        frame[f"{c}_initial"] = frame[c].str[:1]
    rule = BlockingRule(name="r", on=parts)
    ours = agreeing_pairs(key_frame(frame, rule))
    (spec,), sound, _ = e2e.splink_blocking([rule])
    exprs = spec["on"]
    assert sound == [] and spec["max_group"] is None
    con = duckdb.connect()  # in memory: about a millisecond
    con.register("t", frame[["first_name", "surname", "dob"]].astype(object).where(frame.notna(), None))
    sql_keys = con.sql(f"SELECT {', '.join(f'{x} AS k{i}' for i, x in enumerate(exprs))} FROM t").df()
    assert agreeing_pairs(sql_keys) == ours


def test_derived_columns_become_splink_columns_and_soundex_is_asked_for():
    rules = load_config(None).linkage.blocking
    blocking, sound, notes = e2e.splink_blocking(rules)
    assert [b["name"] for b in blocking] == [r.name for r in rules] and notes == []
    assert sound == ["first_name", "surname"]
    flat = " ".join(x for rule in blocking for x in rule["on"])
    assert "_canon" not in flat and "surname_sound" in flat and "substr(first_name, 1, 1)" in flat


def test_a_window_rule_is_left_out_with_a_note_and_max_group_is_kept():
    rules = [BlockingRule(name="w", on=["surname"], window=3), BlockingRule(name="g", on=["dob"], max_group=10)]
    blocking, _, notes = e2e.splink_blocking(rules)
    assert blocking == [{"name": "g", "on": ["dob"], "max_group": 10}]
    assert len(notes) == 1 and "rule w" in notes[0]


def test_a_max_group_rule_blocks_on_a_key_nulled_where_too_many_records_share_it():
    frame = pd.DataFrame({"unique_id": np.arange(7), "a": ["x", "x", "x", "y", "y", None, "z"],
                          "b": ["1", "1", "1", "1", "1", "1", None]})
    rules = [{"name": "r", "on": ["a", "substr(b, 1, 1)"], "max_group": 2}, {"name": "s", "on": ["a"], "max_group": None}]
    out, blocking = e2e_splink.capped_keys(frame, rules)
    assert blocking == [["_r_key"], ["a"]]
    key = out["_r_key"].tolist()
    assert key[:3] == [None] * 3 and key[3] == key[4] is not None and key[5:] == [None, None]  # 3 > 2 share x|1


def test_cleaning_makes_splink_columns_from_raw_text():
    raw = pd.DataFrame({
        "nino": ["ab 12 34 56 c", None, ""], "first_name": ["  Mary-Jane ", "O'BRIEN,", None],
        "surname": ["Mac  Donald", "x.", "  "], "dob": ["1980-02-01", "1900-01-01", None],
        "postcode": ["eh1 1aa", "G12AB", "nonsense!"], "sex": ["Female", "m", "unknown"],
        "email": [" A.B@X.COM", "not an address", None], "phone": ["+44 7700 900123", "0131 496 0000", "12"]},
        dtype="string")
    out = e2e_splink.clean(raw, ["1900-01-01"], ["surname"])
    assert out["unique_id"].tolist() == [0, 1, 2]
    assert out["nino"].tolist() == ["AB123456C", None, None]
    assert out["first_name"].tolist() == ["mary-jane", "o'brien", None]
    assert out["surname"].tolist() == ["mac donald", "x", None]
    assert out["dob"].tolist() == ["1980-02-01", None, None]
    assert out["postcode"].tolist() == ["EH1 1AA", "G1 2AB", None]
    assert out[["postcode_area", "postcode_district", "postcode_sector"]].iloc[0].tolist() == ["EH", "EH1", "EH1 1"]
    assert out["sex"].tolist() == ["f", "m", None]
    assert out["surname_sound"].tolist() == ["M235", "X000", None]
    assert out["email"].tolist() == ["a.b@x.com", None, None]
    assert out["phone"].tolist() == ["07700900123", "01314960000", None]


def test_dates_follow_the_source_format_or_are_read_day_first():
    values = pd.Series(["03/04/1990", "31/12/1980", "1980-01-02 00:00:00", "rubbish", None], dtype="string")
    assert e2e_splink.clean_dates(values[:2], "%d/%m/%Y").tolist() == ["1990-04-03", "1980-12-31"]
    assert e2e_splink.clean_dates(values, None).tolist()[:3] == ["1990-04-03", "1980-12-31", "1980-01-02"]
    assert e2e_splink.clean_dates(values, None).isna().tolist()[3:] == [True, True]
    two_digit = pd.Series(["01-02-03", "01-02-68", "01-02-69"], dtype="string")
    assert e2e_splink.clean_dates(two_digit, "%d-%m-%y", "2025-03-31").tolist() == [
        "2003-02-01", "1968-02-01", "1969-02-01"]


def test_splink_reads_every_partner_extract_with_the_config_mapping(synth_data, tmp_path):
    """Every source of the default config (CSV with its delimiter and encoding, JSON lines, xlsx) is read whole."""
    spec = e2e.splink_spec(load_config(None), synth_data / "extracts", tmp_path / "c.csv", 42, 1e4)
    records = pd.concat([e2e_splink.read_source(s, Path(spec["extracts"])) for s in spec["sources"]],
                        ignore_index=True)
    truth = pd.read_csv(synth_data / "truth.csv", dtype=str)
    key = records["source"] + "/" + records["record_id"]
    assert set(key) == set(truth["source"] + "/" + truth["record_id"]) and key.is_unique
    frame = e2e_splink.clean(records, spec["placeholders"], spec["sound_columns"])
    for c in ("first_name", "surname", "dob", "postcode"):  # the mapping found each field's column
        assert frame[c].notna().mean() > 0.8, c


def test_a_field_from_several_columns_or_date_parts():
    df = pd.DataFrame({"a": ["Mary", None], "b": ["Jane", "Ann"], "y": ["1980", None], "m": ["2", None],
                       "d": ["1", None]}, dtype="string")
    assert e2e_splink.field_values(df, ["a", "b"]).tolist() == ["Mary Jane", "Ann"]
    parts = e2e_splink.field_values(df, {"parts": {"year": "y", "month": "m", "day": "d"}})
    assert parts.iloc[0] == "1980-02-01" and pd.isna(parts.iloc[1])


def test_watch_measures_wall_and_peak_memory_of_a_whole_process():
    code = "import time, numpy as np; a = np.ones(200 * 2**20 // 8); time.sleep(0.3); print('done')"
    w = br.watch([sys.executable, "-c", code], timeout=60, max_rss_gb=20, interval=0.05)
    assert w["returncode"] == 0 and w["stdout"].strip() == "done" and "error" not in w
    assert 0.3 <= w["wall_s"] < 30
    assert 0.2 <= w["peak_gb_rusage"] < 2 and w["peak_gb"] >= w["peak_gb_rusage"]


def test_watch_stops_a_process_past_its_time():
    w = br.watch([sys.executable, "-c", "import time; time.sleep(30)"], timeout=0.3, max_rss_gb=20, interval=0.05)
    assert w["error"].startswith("stopped: not finished") and w["wall_s"] < 10


def test_median_of_runs_and_ratios():
    runs = [{"wall_s": 3.0, "peak_gb": 0.4}, {"wall_s": 1.0, "peak_gb": 0.2}, {"error": "x"},
            {"wall_s": 2.0, "peak_gb": 0.3}]
    m = e2e.median_of(runs)
    assert m["wall_s"] == 2.0 and m["peak_gb"] == 0.3 and len(m["runs"]) == 3
    entry = {"tools": {"ours": {"wall_s": 2.0, "peak_gb": 0.5}, "splink": {"wall_s": 8.0, "peak_gb": 1.0}}}
    assert e2e.ratios(entry) == {"wall": 0.25, "peak": 0.5}
    assert e2e.ratios({"tools": {"ours": {"wall_s": 2.0}, "splink": {"error": "stopped"}}}) is None


def test_ours_figures_come_from_the_run_folder(run_out, synth_data):
    out, _ = run_out
    fig = e2e.run_figures(out, synth_data / "truth.csv")
    metrics = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    assert fig["f1"] == pytest.approx(metrics["pairwise"]["f1"]) and fig["f1"] > 0.95
    assert {"block", "cluster", "evaluate", "report"} <= set(fig["stages"]) and fig["stages_s"] > 0


@pytest.mark.skipif(br.splink_available() is not None, reason="Splink 5 is not installed (the bench extra)")
def test_splink_whole_process_on_a_tiny_set(synth_data, tmp_path):
    """Splink's side of the benchmark, run as its own process on the raw extracts: quality, time, memory."""
    r = e2e.run_splink(synth_data, load_config(None), tmp_path, seed=42, u_pairs=1e4, timeout=300, max_rss_gb=8)
    assert "error" not in r, r
    assert 0 < r["wall_s"] < 300 and 0.05 < r["peak_gb"] < 8
    assert set(r["stages"]) == {"read", "clean", "train", "predict", "cluster"}
    assert r["f1"] > 0.9 and r["records_clustered"] == len(pd.read_csv(synth_data / "truth.csv"))
    clusters = pd.read_csv(tmp_path / "splink-clusters.csv")
    assert list(clusters.columns) == ["source", "record_id", "cluster_id"] and clusters["cluster_id"].notna().all()
    assert np.issubdtype(clusters["cluster_id"].dtype, np.integer)

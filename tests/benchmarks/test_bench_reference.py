"""The reference benchmark harness (benchmarks/bench_reference.py): a tiny end-to-end run and its table rules."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))

import bench_reference as br  # noqa: E402
import reference_output as ro  # noqa: E402


def _ok(wall: float, f1: float, peak: float = 0.5) -> dict:
    return {"wall_s": wall, "peak_gb": peak, "precision": f1, "recall": f1, "f1": f1, "bcubed_f1": f1}


def _results(tools: dict, target_records: int = 10_000) -> dict:
    return {"date": "2000-01-01", "command": "python -m benchmarks reference",
            "machine": {"cpus": 2, "python": "3.11", "memory_gb": 24.0}, "notes": [],
            "datasets": [{"dataset": "10k", "kind": "synthetic", "records": 10_000, "people": 4_000, "target_records": target_records,
                          "tools": tools}]}


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """One real run of the harness on ~1,000 synthetic records: ours and the toolkit, and Splink when it
    is installed here (the `bench` extra)."""
    out = tmp_path_factory.mktemp("ref")
    tools = "ours,toolkit" + ("" if br.splink_available() else ",splink")
    cmd = [sys.executable, "-m", "benchmarks", "reference", "--quick", "--datasets", "1k", "--tools", tools,
           "--out", str(out / "results"), "--cache-dir", str(out / "cache"), "--timeout", "120"]
    res = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
    assert res.returncode == 0, res.stderr[-2000:]
    return out / "results", tools.split(","), res.stdout


def test_quick_run_writes_the_table_json_and_chart(tiny_run):
    results, tools, _ = tiny_run
    assert {p.name for p in results.iterdir()} >= {"reference.md", "reference.json", "reference.svg"}
    md = (results / "reference.md").read_text(encoding="utf-8")
    assert "| dataset | records | tool | wall s | ratio to ours |" in md
    assert md.count("| 1k |") == len(tools)
    svg = (results / "reference.svg").read_text(encoding="utf-8")
    assert svg.startswith("<svg xmlns=\"http://www.w3.org/2000/svg\"") and "pairwise F1" in svg and "wall time" in svg  # opens on its own


def test_quick_run_measures_sane_quality_time_and_memory_for_every_tool(tiny_run):
    results, tools, _ = tiny_run
    data = json.loads((results / "reference.json").read_text(encoding="utf-8"))
    (ds,) = data["datasets"]
    assert ds["dataset"] == "1k" and 500 < ds["records"] < 2000
    assert list(ds["tools"]) == tools
    for tool, r in ds["tools"].items():
        assert "error" not in r, (tool, r)
        assert 0 < r["wall_s"] < 120
        assert 0.05 < r["peak_gb"] < 8
        for k in ("precision", "recall", "f1", "bcubed_f1"):
            assert 0.5 < r[k] <= 1.0, (tool, k, r[k])
    assert ds["tools"]["ours"]["f1"] > 0.95
    assert data["command"].startswith("python -m benchmarks reference") and "--out" not in data["command"]


def test_splink_step_is_skipped_with_a_reason_when_splink_is_missing(monkeypatch):
    monkeypatch.setitem(sys.modules, "splink", None)  # import splink -> ImportError
    assert "not installed" in br.splink_available()


def test_sizes_parse_from_k_and_m_suffixes_and_febrl_names_are_not_sizes():
    assert br.parse_size("10k") == 10_000
    assert br.parse_size("1m") == 1_000_000
    assert br.parse_size("2500") == 2500
    assert br.parse_size("febrl3") is None


def test_verdict_needs_f1_and_time_at_least_as_good_as_splink():
    ds = {"target_records": 10_000}
    assert ro.target_verdict(_ok(1.0, 0.99), _ok(2.0, 0.98), ds) == ("F1 yes, time yes", [])
    verdict, misses = ro.target_verdict(_ok(3.0, 0.97), _ok(2.0, 0.98), ds)
    assert verdict == "F1 NO, time NO" and misses == ["F1 below Splink's", "wall time above Splink's"]


def test_verdict_checks_memory_only_at_a_million_records():
    big = {"target_records": 1_000_000}
    assert ro.target_verdict(_ok(1.0, 0.99, peak=9.0), None, big) == (
        "vs Splink: n/a, memory NO", ["peak memory 9.0 GB >= 8 GB"])
    assert ro.target_verdict(_ok(1.0, 0.99, peak=3.0), {"error": "stopped"}, big)[0] == "vs Splink: n/a, memory yes"


def test_table_shows_ratios_against_ours_and_lists_missed_targets():
    md = ro.markdown(_results({"ours": _ok(2.0, 0.97), "toolkit": _ok(4.0, 0.9), "splink": _ok(1.0, 0.98)}))
    assert "| 10k | 10,000 | recordlinkage ECM | 4.0 | 2.00 |" in md
    assert "| 10k | 10,000 | Splink 5 (DuckDB) | 1.0 | 0.50 |" in md
    assert "F1 NO, time NO" in md and "- 10k: F1 below Splink's" in md


def test_a_tool_that_did_not_run_says_why_in_the_table_and_chart():
    res = _results({"ours": _ok(2.0, 0.99), "splink": {"error": "stopped: not finished within 1800 s"}})
    md = ro.markdown(res)
    assert "| Splink 5 (DuckDB) | not run: stopped: not finished within 1800 s |" in md
    assert "vs Splink: n/a" in md
    assert "not run" in ro.chart(res)


def test_febrl4_config_links_its_two_files_link_only(tmp_path):
    from pace_linkage.config import load_config

    cfg = load_config(br.febrl_config(4, tmp_path))
    assert [s.name for s in cfg.sources.items] == ["febrl4a", "febrl4b"]
    assert cfg.linkage.link_type == "link_only"
    assert [r.on for r in cfg.linkage.blocking] == [r.on for r in load_config(br.FEBRL_CONFIG).linkage.blocking]


def test_toolkit_features_follow_the_config_comparisons():
    from pace_linkage.config import load_config

    exact, string = br.toolkit_features(load_config(None))
    assert set(string) == {"first_name", "surname"}
    assert {"nino", "dob", "postcode", "sex"} <= set(exact)


def test_recorded_command_leaves_out_where_files_go():
    assert br._command(["--datasets", "10k", "--out", "/x", "--cache-dir=/y", "--quick"]) == (
        "python -m benchmarks reference --datasets 10k --quick")


def test_other_tools_block_on_the_same_keys_with_common_values_left_out():
    import bench_linkage
    import pandas as pd

    from pace_linkage.engine.blocking import block
    from pace_linkage.engine.settings import BlockingKey, BlockingRule

    rec = pd.DataFrame({"first": ["ANN", "LEE", "ANN", "BO", "BO", None],
                        "surname": ["LEE", "ANN", "LEE", "X", "X", "Y"]})

    def key_pairs(rule) -> set:
        columns, names = bench_linkage.rule_key_columns(rec, [rule])
        keys = pd.DataFrame(columns)[names[0]]
        return {(i, j) for i in range(len(rec)) for j in range(i + 1, len(rec))
                if keys.iloc[i].notna().all() and keys.iloc[j].notna().all()
                and (keys.iloc[i] == keys.iloc[j]).all()}

    def our_pairs(rule) -> set:
        p = block(rec, [rule]).pairs
        return set(zip(p["l"].tolist(), p["r"].tolist(), strict=True))

    rule = BlockingRule(name="names", on=[BlockingKey(transform="set", columns=["first", "surname"])], max_group=2)
    # ANN LEE (three records, either order) is over max_group: only the two BO X records pair
    assert key_pairs(rule) == our_pairs(rule) == {(3, 4)}
    wider = rule.model_copy(update={"max_group": 3})
    assert key_pairs(wider) == our_pairs(wider) == {(0, 1), (0, 2), (1, 2), (3, 4)}

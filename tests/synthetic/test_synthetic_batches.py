"""`synth --batches K`: the synthetic extracts as monthly deliveries of new, updated and deleted records."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

import synthetic
from pace_linkage.config import DEFAULT_CONFIG, load_config
from pace_linkage.errors import ConfigError, InputError
from pace_linkage.ingest.extract import read_source
from pace_linkage.ingest.sources import SourceFailure
from pace_linkage.pipeline import read_batch
from pace_linkage.schema import RECORD_ID
from synthetic.batches import delivery_dates, first_delivery
from synthetic.settings import load_settings

PEOPLE, SEED, K = 300, 7, 3
CONFIG_DIR = DEFAULT_CONFIG.parent
LINKAGE = ["nino", "first_name", "surname", "postcode"]


@pytest.fixture(scope="module")
def cfg():
    return load_config()


@pytest.fixture(scope="module")
def settings(cfg):
    return load_settings(CONFIG_DIR / "synthetic.yaml", cfg)


@pytest.fixture(scope="module")
def batched(tmp_path_factory):
    out = tmp_path_factory.mktemp("batches") / "run"
    summary = synthetic.generate_batches(PEOPLE, SEED, out, K)
    return out, summary


@pytest.fixture(scope="module")
def full(tmp_path_factory):
    out = tmp_path_factory.mktemp("full") / "run"
    synthetic.generate(PEOPLE, SEED, out)
    return out


def folders(out: Path) -> list[Path]:
    return [out / f"batch_{k:02d}" for k in range(1, K + 1)]


def delivered(folder: Path, src) -> pd.DataFrame:
    """A partner's file read as the pipeline reads it (every cell text), indexed by record id; an empty
    JSON-lines delivery is no rows."""
    try:
        frame = read_source(src, folder).frame
    except InputError:
        assert src.format == "jsonl" and (folder / src.file).stat().st_size == 0
        return pd.DataFrame()
    return frame.set_index(src.record_id, drop=False)


def truth_keys(path: Path) -> set[tuple[str, str]]:
    t = pd.read_csv(path, dtype=str, keep_default_na=False)
    return set(zip(t["source"], t["record_id"], strict=True))


def files_of(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def linkage_columns(cfg, src) -> list[str]:
    return [src.columns[f] for f in LINKAGE if f in src.columns]


# --------------------------------------------------------------------------------------------------
# Dealing records into deliveries
# --------------------------------------------------------------------------------------------------
def test_deliveries_fall_on_month_ends_and_the_last_on_the_reference_date():
    got = delivery_dates(dt.date(2025, 3, 31), 3).astype(str).tolist()
    assert got == ["2025-01-31", "2025-02-28", "2025-03-31"]
    mid = delivery_dates(dt.date(2024, 3, 15), 3).astype(str).tolist()
    assert mid == ["2024-01-31", "2024-02-29", "2024-03-15"]


def test_a_record_is_new_in_the_first_delivery_on_or_after_its_created_date():
    dates = delivery_dates(dt.date(2025, 3, 31), 3)
    created = np.array(["2019-05-01", "2025-01-31", "2025-02-01", "2025-02-28", "2025-03-31"], "datetime64[D]")
    assert first_delivery(created, dates, np.random.default_rng(0)).tolist() == [0, 0, 1, 1, 2]
    unknown = np.full(200, np.datetime64("NaT"), "datetime64[D]")
    dealt = first_delivery(unknown, dates, np.random.default_rng(0))
    assert set(dealt.tolist()) == {0, 1, 2}  # no date: a seeded random delivery


def test_every_partner_file_is_in_every_delivery_with_the_full_files_header(batched, full, cfg):
    out, _ = batched
    for folder in [*folders(out), out / "all"]:
        for src in cfg.sources.items:
            path = folder / "extracts" / src.file
            assert path.exists(), (folder.name, src.name)
            if src.format == "csv":
                head = path.read_bytes().splitlines()[0]
                assert head == (full / "extracts" / src.file).read_bytes().splitlines()[0], src.name


def test_every_record_is_new_in_exactly_one_delivery_and_truth_covers_them_all(batched, full, cfg):
    out, summary = batched
    assert (out / "truth.csv").read_bytes() == (full / "truth.csv").read_bytes()
    everything = truth_keys(out / "truth.csv")
    seen: set[tuple[str, str]] = set()
    for k, folder in enumerate(folders(out)):
        for src in cfg.sources.items:
            ids = {(src.name, r) for r in delivered(folder / "extracts", src).index}
            new = ids - seen
            assert len(new) == summary["deliveries"][k]["new"][src.name], (k, src.name)
            seen |= ids
    assert seen == everything
    assert sum(d["new"]["total"] for d in summary["deliveries"]) == len(everything) == summary["total_records"]


def test_later_deliveries_carry_new_clients_and_repeat_records_of_known_people(batched):
    out, summary = batched
    truth = pd.read_csv(out / "truth.csv", dtype=str)
    first = pd.read_csv(folders(out)[0] / "truth.csv", dtype=str)  # no deletions in the first delivery
    later = truth[~truth.set_index(["source", "record_id"]).index.isin(first.set_index(["source", "record_id"]).index)]
    assert all(d["new"]["total"] > 0 for d in summary["deliveries"])
    known = later["person_id"].isin(set(first["person_id"]))
    assert known.any() and (~known).any()


# --------------------------------------------------------------------------------------------------
# Updates and deletions
# --------------------------------------------------------------------------------------------------
def test_updated_records_keep_their_key_and_person_and_change_a_linkage_value(batched, cfg):
    out, summary = batched
    person = pd.read_csv(out / "truth.csv", dtype=str).set_index(["source", "record_id"])["person_id"]
    n_updated = 0
    for src in cfg.sources.items:
        latest: dict[str, pd.Series] = {}
        cols = linkage_columns(cfg, src)
        for k, folder in enumerate(folders(out)):
            frame = delivered(folder / "extracts", src)
            again = [r for r in frame.index if r in latest]
            assert len(again) == summary["deliveries"][k]["updated"][src.name], (k, src.name)
            for rid in again:
                old, new = latest[rid], frame.loc[rid]
                assert any(old[c] != new[c] for c in cols), (src.name, k)
            n_updated += len(again)
            latest.update({rid: frame.loc[rid] for rid in frame.index})
        later_truth = pd.read_csv(folders(out)[-1] / "truth.csv", dtype=str)
        mine = later_truth[later_truth["source"] == src.name]
        assert (mine["person_id"].to_numpy() == person.loc[src.name].loc[mine["record_id"]].to_numpy()).all()
    assert n_updated == sum(d["updated"]["total"] for d in summary["deliveries"]) > 0
    kinds = [sum(d["changes"][c] for d in summary["deliveries"]) for c in ("postcode", "name", "nino")]
    assert sum(kinds) == n_updated and all(kinds), kinds


def test_deletions_name_live_records_delivered_earlier_that_never_come_back(batched, cfg):
    out, summary = batched
    by_name = {s.name: s for s in cfg.sources.items}
    deleted: set[tuple[str, str]] = set()
    sent: list[set[tuple[str, str]]] = []
    for folder in folders(out):
        sent.append({(s.name, r) for s in cfg.sources.items for r in delivered(folder / "extracts", s).index})
    for k, folder in enumerate(folders(out)):
        d = pd.read_csv(folder / "extracts" / "deletions.csv", dtype=str)
        assert list(d.columns) == ["source", "record_id", "reason"]
        assert set(d["reason"]) <= {"deleted", "consent_withdrawn"}
        keys = set(zip(d["source"], d["record_id"], strict=True))
        assert len(keys) == len(d) == summary["deliveries"][k]["deleted"]["total"]
        assert keys <= set().union(*sent[:k]), k  # delivered earlier (none in the first delivery)
        assert not keys & deleted  # deleted once
        assert not keys & set().union(*sent[k:]), k  # never re-sent
        assert set(d["source"]) <= set(by_name)
        deleted |= keys
    assert deleted and not deleted & truth_keys(folders(out)[-1] / "truth.csv")
    assert {"deleted", "consent_withdrawn"} <= set(
        pd.concat(pd.read_csv(f / "extracts" / "deletions.csv", dtype=str) for f in folders(out))["reason"]
    )


def test_cumulative_truth_grows_by_the_new_and_shrinks_by_the_deleted(batched):
    out, summary = batched
    everything = pd.read_csv(out / "truth.csv", dtype=str)
    size = 0
    for k, folder in enumerate(folders(out)):
        d = summary["deliveries"][k]
        truth = pd.read_csv(folder / "truth.csv", dtype=str)
        size += d["new"]["total"] - d["deleted"]["total"]
        assert len(truth) == size == d["live_after"], k
        assert len(truth.merge(everything)) == len(truth)  # same (source, record_id, person_id) rows
    assert size == summary["total_live_records"] == len(pd.read_csv(out / "all" / "truth.csv"))


def test_the_one_go_folder_holds_every_live_record_once_in_its_latest_version(batched, cfg, settings):
    out, _ = batched
    live = truth_keys(folders(out)[-1] / "truth.csv")
    assert truth_keys(out / "all" / "truth.csv") == live
    found: set[tuple[str, str]] = set()
    for src in cfg.sources.items:
        whole = delivered(out / "all" / "extracts", src)
        assert whole.index.is_unique, src.name
        found |= {(src.name, r) for r in whole.index}
        latest: dict[str, pd.Series] = {}
        for folder in folders(out):
            frame = delivered(folder / "extracts", src)
            latest.update({rid: frame.loc[rid] for rid in frame.index})
        # the extract date is the delivery's own date; every other column as last delivered
        skip = {c for c, a in settings.partners[src.name].columns.items() if a == "extract_date"}
        for rid in whole.index:
            a, b = whole.loc[rid], latest[rid]
            assert all(a[c] == b[c] for c in whole.columns if c not in skip), (src.name, rid)
    assert found == live


def test_dates_in_a_delivery_are_not_after_its_delivery_date(batched, cfg):
    out, summary = batched
    src = next(s for s in cfg.sources.items if s.name == "sds")
    for k, folder in enumerate(folders(out)):
        frame = delivered(folder / "extracts", src)
        when = pd.Timestamp(summary["deliveries"][k]["delivery_date"])
        for col in ("Created_Date", "Last_Updated"):
            assert (pd.to_datetime(frame[col], format="%d/%m/%Y") <= when).all(), (k, col)
        assert (frame["Extract_Date"] == when.strftime("%d/%m/%Y")).all()


# --------------------------------------------------------------------------------------------------
# Determinism, the pipeline, config and CLI
# --------------------------------------------------------------------------------------------------
def test_same_seed_rewrites_byte_identical_deliveries(batched, tmp_path):
    out, _ = batched
    synthetic.generate_batches(PEOPLE, SEED, tmp_path / "again", K)
    assert files_of(out) == files_of(tmp_path / "again")


def test_the_pipeline_reads_every_delivery_without_quarantine_caused_by_batching(batched, full, cfg):
    out, summary = batched
    accepted_full: dict[str, set[str]] = {}
    for src in cfg.sources.items:
        b = read_batch(src, cfg, full / "extracts")
        assert not isinstance(b, SourceFailure)
        accepted_full[src.name] = set(b.records[RECORD_ID])
    for folder in [*folders(out), out / "all"]:
        for src in cfg.sources.items:
            nb = read_batch(src, cfg, folder / "extracts")
            sent = delivered(folder / "extracts", src)
            if isinstance(nb, SourceFailure):  # only a JSON-lines partner with nothing that month
                assert len(sent) == 0 and src.format == "jsonl" and "file is empty" in nb.error
                continue
            assert nb.rows_in == len(sent), (folder.name, src.name)
            expected = set(sent.index) & accepted_full[src.name]
            assert expected <= set(nb.records[RECORD_ID]), (folder.name, src.name)
            assert nb.rows_quarantined <= len(set(sent.index) - accepted_full[src.name]), (folder.name, src.name)


def _config_copy(tmp_path: Path) -> Path:
    dst = tmp_path / "config"
    shutil.copytree(CONFIG_DIR, dst, ignore=shutil.ignore_patterns("examples"))
    return dst


def test_batches_rates_are_validated_with_file_and_key(tmp_path):
    cfg = _config_copy(tmp_path)
    data = yaml.safe_load((cfg / "synthetic.yaml").read_text())
    data["batches"]["updated"] = 1.5
    data["batches"]["changes"]["moved"] = 0.2
    (cfg / "synthetic.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    with pytest.raises(ConfigError) as exc:
        synthetic.generate_batches(50, 1, tmp_path / "out", 2, config_path=cfg / "pace.yaml")
    msg = str(exc.value)
    assert "synthetic.yaml: batches.updated" in msg and "batches.changes.moved" in msg


def test_batches_need_the_batches_key_and_at_least_two_deliveries(tmp_path):
    cfg = _config_copy(tmp_path)
    data = yaml.safe_load((cfg / "synthetic.yaml").read_text())
    del data["batches"]
    (cfg / "synthetic.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    synthetic.generate(40, 1, tmp_path / "plain", config_path=cfg / "pace.yaml")  # not needed without batches
    with pytest.raises(ConfigError, match="batches: required"):
        synthetic.generate_batches(40, 1, tmp_path / "out", 2, config_path=cfg / "pace.yaml")
    with pytest.raises(ConfigError, match="at least 2"):
        synthetic.generate_batches(40, 1, tmp_path / "out", 1)


def test_synth_cli_writes_batches_and_rejects_fewer_than_two(tmp_path):
    from typer.testing import CliRunner

    from flows.cli import app

    runner = CliRunner()
    res = runner.invoke(app, ["synth", "--out", str(tmp_path / "d"), "--people", "120", "--seed", "2", "--batches", "2"])
    assert res.exit_code == 0, res.output
    summary = json.loads((tmp_path / "d" / "batches.json").read_text())
    assert [d["folder"] for d in summary["deliveries"]] == ["batch_01", "batch_02"]
    assert (tmp_path / "d" / "batch_02" / "extracts" / "deletions.csv").exists() and (tmp_path / "d" / "all" / "extracts").is_dir()
    assert "batch_02" in res.output and not (tmp_path / "d" / "extracts").exists()
    bad = runner.invoke(app, ["synth", "--out", str(tmp_path / "e"), "--batches", "1"])
    assert bad.exit_code != 0 and not (tmp_path / "e").exists()
    assert "--batches" in runner.invoke(app, ["synth", "--help"]).output

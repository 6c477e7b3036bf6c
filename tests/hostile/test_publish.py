"""OUT and the store move together, whatever stops a run; concurrent runs; what stopped and earlier runs leave; a
partner that cannot be read; what a partner role reads of the runs.

- OUT is published only after every stage, the store write included, has succeeded: a fault, a store that raises
  half-way (a full disk), a corrupted store file or a kill -9 during the store write leaves OUT naming the
  previous run; a run killed after the store committed is published by the next run.
- Incremental runs against one store are serialisable (DuckDB and a real PostgreSQL): a run paused after it
  loaded the state while another completes is refused in one line, and nothing of either is lost.
- A killed run's staging folder is removed by the next successful publish (never one a live run holds), and
  a previous run's files the new run does not write (review's files, tune/, partner quarantine) are removed.
- A partner that cannot be read fails the run (one line per failed source, nothing published, nothing stored),
  unless ``allow_partial`` or ``required: false``: then the report's first line names it and its rows.
- On PostgreSQL a partner role sees only the runs it took part in, with only its own counts.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pandas as pd
import pytest

from pace_linkage.errors import InputError
from pace_linkage.store import database as store
from pace_linkage.store.outputs import RunWriter, verify_manifest

from .conftest import CONFIG, write_bytes

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.e2e


# --------------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------------
def snapshot(out: Path) -> dict[str, str]:
    """Every file under OUT (hidden ones too) with its SHA-256."""
    return {str(p.relative_to(out)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(out.rglob("*")) if p.is_file()}


def leftovers(out: Path) -> list[str]:
    return sorted(p.name for p in out.iterdir() if p.name.startswith(".staging-") or p.name.endswith(".tmp"))


def stored_runs(db: Path) -> list[str]:
    with store.open_store(db) as st:
        return st.runs()["run_id"].tolist()


def flow(**kw):
    from flows.pipeline import pace_linkage_pipeline

    return pace_linkage_pipeline(**kw)


@pytest.fixture(scope="module")
def published(prefect_harness, hostile, tmp_path_factory) -> Path:
    """A folder holding OUT and a DuckDB store, both with run ``prev`` (the hostile set)."""
    base = tmp_path_factory.mktemp("published")
    flow(extracts=str(hostile["extracts"]), out=str(base / "out"), config=str(hostile["config"]), run_id="prev",
         store=str(base / "pace.duckdb"))
    return base


@pytest.fixture
def prev(published, tmp_path) -> tuple[Path, Path, dict[str, str]]:
    """A copy of ``published``: (OUT, the store file, OUT's snapshot)."""
    shutil.copytree(published, tmp_path / "p")
    out = tmp_path / "p" / "out"
    return out, tmp_path / "p" / "pace.duckdb", snapshot(out)


def kwargs(hostile, out: Path, db: Path | None, run_id: str, **more) -> dict:
    return dict(extracts=str(hostile["extracts"]), out=str(out), config=str(hostile["config"]), run_id=run_id,
                store=str(db) if db else None, threshold=0.5, **more)  # another threshold: other files


def assert_previous(out: Path, before: dict[str, str], db: Path) -> None:
    assert snapshot(out) == before
    assert leftovers(out) == []
    assert verify_manifest(out)["run_id"] == "prev"
    assert stored_runs(db) == ["prev"]


# --------------------------------------------------------------------------------------------------
# OUT and the store move together
# --------------------------------------------------------------------------------------------------
def test_a_fault_at_the_store_stage_leaves_out_and_the_store_on_the_previous_run(prev, hostile, monkeypatch):
    from flows.tasks import FAULT_ENV

    out, db, before = prev
    monkeypatch.setenv(FAULT_ENV, "store")
    state = flow(**kwargs(hostile, out, db, "faulty"), return_state=True)
    assert state.is_failed() and "stage store: fault injected" in state.message
    assert_previous(out, before, db)


def test_a_store_that_raises_half_way_through_its_write_leaves_out_on_the_previous_run(prev, hostile, monkeypatch):
    import duckdb

    from flows import tasks

    out, db, before = prev
    real = store.DuckDBStore._write_table

    def disk_full_at_pairs(self, name, df, run_id):
        if name == "pairs":
            raise duckdb.IOException("No space left on device")
        return real(self, name, df, run_id)

    monkeypatch.setattr(store.DuckDBStore, "_write_table", disk_full_at_pairs)
    monkeypatch.setattr(tasks, "store_run", tasks.store_run.with_options(retries=0))
    state = flow(**kwargs(hostile, out, db, "full-disk"), return_state=True)
    assert state.is_failed() and "writing table pairs failed (IOException)" in state.message
    assert_previous(out, before, db)


def test_a_corrupted_store_file_leaves_out_on_the_previous_run(prev, hostile):
    out, db, before = prev
    db.write_bytes(b"not a database " * 4096)
    state = flow(**kwargs(hostile, out, db, "corrupted"), return_state=True)
    assert state.is_failed() and "cannot open" in state.message
    assert snapshot(out) == before and leftovers(out) == [] and verify_manifest(out)["run_id"] == "prev"


def test_failing_prefect_artifacts_are_a_warning_after_out_and_the_store_agree(prev, hostile, monkeypatch):
    from flows.tasks import FAULT_ENV

    out, db, _ = prev
    monkeypatch.setenv(FAULT_ENV, "publish-artifacts")
    state = flow(**kwargs(hostile, out, db, "no-artifacts"), return_state=True)
    assert state.is_completed()
    assert verify_manifest(out)["run_id"] == "no-artifacts" and stored_runs(db) == ["no-artifacts", "prev"]


def test_a_publish_that_fails_after_the_store_committed_is_finished_by_the_next_run(prev, hostile, monkeypatch):
    from flows import tasks
    from pace_linkage.pipeline import recover_outputs

    out, db, before = prev
    real = os.replace

    def refuse_metrics(src, dst):  # like a full disk under OUT, half-way through the files
        if Path(src).parent.name.startswith(".staging-") and Path(src).name == "metrics.json":
            raise OSError(28, "No space left on device")
        return real(src, dst)

    monkeypatch.setattr(os, "replace", refuse_metrics)
    monkeypatch.setattr(tasks, "publish", tasks.publish.with_options(retries=0))
    state = flow(**kwargs(hostile, out, db, "late"), return_state=True)
    monkeypatch.setattr(os, "replace", real)
    assert state.is_failed() and "the next run into it publishes it" in state.message
    assert {k: v for k, v in snapshot(out).items() if not k.startswith(".staging-")} == before  # OUT: previous
    assert leftovers(out) == [".staging-late"] and "late" in stored_runs(db)
    assert recover_outputs(out) == [f"{out}: published run late, which a stopped run had completed and stored"]
    assert verify_manifest(out)["run_id"] == "late" and leftovers(out) == []


# ---- kill -9 at the store write, after it, and during publishing (a subprocess on the library pieces) --------
KILLED_RUN = textwrap.dedent("""
    import os, sys, time
    from pathlib import Path
    sys.path.insert(0, sys.argv[1])
    mode, extracts, config, out, db, ready = sys.argv[2:8]
    from pace_linkage import pipeline
    from pace_linkage.config import load_config
    from pace_linkage.engine.linker import Linker
    from pace_linkage.evaluate.metrics import RunResults
    from pace_linkage.ingest.sources import assemble
    from pace_linkage.store import publish as staged
    from pace_linkage.store.duckdb import DuckDBStore

    def pause():
        Path(ready).write_text("paused")
        time.sleep(120)

    cfg = load_config(config)
    batches, failures = pipeline.read_batches(cfg, Path(extracts))
    res = Linker.from_config(cfg).run(assemble(batches))
    run = RunResults(cfg=cfg, threshold=0.5, batches=batches, failures=failures, records=res.records,
                     blocking=res.blocking, gamma=res.gamma, model=res.model, scored=res.scores, clusters=res.clusters)
    metrics = pipeline.evaluate_run(run, None)
    html = pipeline.run_report(run, metrics)
    if mode == "store-write":  # pause inside the store's transaction, after the pairs are written
        real = DuckDBStore._write_table
        def slow(self, name, df, run_id):
            real(self, name, df, run_id)
            if name == "pairs":
                pause()
        DuckDBStore._write_table = slow
    if mode == "publishing":  # pause half-way through moving the staged files into OUT
        real_replace, moved = os.replace, []
        def slow_replace(src, dst):
            real_replace(src, dst)
            if Path(src).parent.name.startswith(".staging-") and Path(dst).parent == Path(out):
                moved.append(src)
                if len(moved) == 3:
                    pause()
        staged.os.replace = slow_replace

    def write_store(w):
        stored = pipeline.store_run(db, run, w.run_id, attempt=w.attempt)
        if mode == "after-commit":
            pause()
        return stored

    pipeline.finish_run(Path(out), "killed", db, pipeline.manifest_extra(run),
                        stage=lambda w: pipeline.stage_outputs(w, run, metrics, html), write_store=write_store)
""")


def kill_during(mode: str, hostile, out: Path, db: Path, tmp_path: Path) -> None:
    ready = tmp_path / f"ready-{mode}"
    proc = subprocess.Popen([sys.executable, "-c", KILLED_RUN, str(ROOT), mode, str(hostile["extracts"]),
                             str(hostile["config"]), str(out), str(db), str(ready)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=ROOT)
    try:
        deadline = time.monotonic() + 60
        while not ready.exists():
            assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
            assert time.monotonic() < deadline, "the run never reached the point to kill it at"
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait(timeout=30)
        proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL


def test_kill_9_during_the_store_write_leaves_out_and_the_store_on_the_previous_run(prev, hostile, tmp_path):
    from pace_linkage.pipeline import recover_outputs

    out, db, before = prev
    kill_during("store-write", hostile, out, db, tmp_path)
    assert {k: v for k, v in snapshot(out).items() if not k.startswith(".staging-")} == before
    assert verify_manifest(out)["run_id"] == "prev" and stored_runs(db) == ["prev"]  # the store rolled back
    assert leftovers(out) == [".staging-killed"]  # the dead run's staged files: removed by the next run
    assert recover_outputs(out) == []
    assert_previous(out, before, db)


def test_kill_9_after_the_store_committed_is_published_by_the_next_run(prev, hostile, tmp_path):
    from pace_linkage.pipeline import recover_outputs

    out, db, before = prev
    kill_during("after-commit", hostile, out, db, tmp_path)
    assert verify_manifest(out)["run_id"] == "prev" and stored_runs(db) == ["killed", "prev"]
    notes = recover_outputs(out)
    assert notes == [f"{out}: published run killed, which a stopped run had completed and stored"]
    assert verify_manifest(out)["run_id"] == "killed" and leftovers(out) == []


def test_kill_9_half_way_through_publishing_is_finished_by_the_next_run(prev, hostile, tmp_path):
    from pace_linkage.pipeline import recover_outputs

    out, db, before = prev
    kill_during("publishing", hostile, out, db, tmp_path)
    with pytest.raises(InputError):  # a mix of two runs: a reader rejects it
        verify_manifest(out)
    recover_outputs(out)
    manifest = verify_manifest(out)
    assert manifest["run_id"] == "killed" and stored_runs(db) == ["killed", "prev"] and leftovers(out) == []
    assert set(snapshot(out)) == set(manifest["files"]) | {"manifest.json"}  # exactly one run


# --------------------------------------------------------------------------------------------------
# Staging folders of dead runs, a previous run's other files
# --------------------------------------------------------------------------------------------------
def publish_files(out: Path, run_id: str, files: dict[str, str]) -> Path:
    w = RunWriter(out, run_id)
    for name, text in files.items():
        w.write_text(name, text)
    return w.publish({"kind_of": "test"})


def test_a_dead_runs_staging_folder_goes_with_the_next_publish_but_a_live_runs_stays(tmp_path):
    out = tmp_path / "out"
    publish_files(out, "r1", {"clusters.csv": "a\n"})
    dead = RunWriter(out, "dead")
    dead.write_text("clusters.csv", "personal data\n")
    dead.write_text("pairs.parquet", "personal data\n")
    os.close(dead._lock)  # the process died: the kernel released its lock (nothing else of it ran)
    dead._lock = None
    live = RunWriter(out, "live")  # a concurrent run still writing
    live.write_text("clusters.csv", "b\n")
    outside = tmp_path / "elsewhere"
    write_bytes(outside / "keep.csv", "not ours\n")
    (out / ".staging-link").symlink_to(outside, target_is_directory=True)  # not a folder of ours
    (out / ".stagingx").mkdir()
    with pytest.raises(InputError, match="another run with run id live"):
        RunWriter(out, "live")
    publish_files(out, "r2", {"clusters.csv": "c\n"})
    names = sorted(p.name for p in out.iterdir())
    assert ".staging-dead" not in names and ".staging-live" in names
    assert (outside / "keep.csv").exists() and ".staging-link" in names and ".stagingx" in names
    live.publish()
    assert verify_manifest(out)["run_id"] == "live" and ".staging-live" not in os.listdir(out)


def test_a_new_run_removes_what_the_previous_run_and_its_follow_ups_wrote_and_nothing_else(tmp_path):
    from pace_linkage.evaluate.tune import add_to_run, recommend, write_tune

    out = tmp_path / "out"
    publish_files(out, "r1", {"clusters.csv": "a\n", "report.html": "r1\n", "quarantine/alpha.csv": "rows\n",
                              "edited.csv": "as written\n"})
    add_to_run(out, {"review_estimate.json": b"{}\n", "clerical.csv": b"decisions\n"})  # review import
    sweep = pd.DataFrame({"threshold": [0.5], "precision": [1.0], "recall": [1.0], "f1": [1.0], "links": [1],
                          "clusters": [1], "match_weight": [0.0]})
    write_tune(out / "tune", sweep, recommend(sweep, 0.99, 0.5))  # pace-linkage tune --run OUT
    write_bytes(out / "notes.txt", "the analyst's own notes\n")
    write_bytes(out / "tune" / "mine.txt", "the analyst's own file\n")
    (out / "edited.csv").write_text("changed by hand\n")
    victim = write_bytes(tmp_path / "victim.csv", "outside OUT\n")
    manifest = json.loads((out / "manifest.json").read_text())
    manifest["files"]["../victim.csv"] = hashlib.sha256(victim.read_bytes()).hexdigest()  # a tampered manifest
    (out / "manifest.json").write_text(json.dumps(manifest))
    publish_files(out, "r2", {"clusters.csv": "b\n", "report.html": "r2\n"})
    left = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    assert left == ["clusters.csv", "edited.csv", "manifest.json", "notes.txt", "report.html", "tune/mine.txt"]
    assert not (out / "quarantine").exists() and victim.exists()
    assert sorted(verify_manifest(out)["files"]) == ["clusters.csv", "report.html"]


# --------------------------------------------------------------------------------------------------
# A partner that cannot be read
# --------------------------------------------------------------------------------------------------
def broken_set(hostile, tmp_path: Path) -> Path:
    """The hostile set with beta.jsonl not UTF-8 (its rows cannot be counted) and gamma.csv missing the column
    mapped to surname (its 17 rows can)."""
    ext = tmp_path / "broken"
    shutil.copytree(hostile["extracts"], ext)
    (ext / "beta.jsonl").write_bytes((ext / "beta.jsonl").read_bytes().replace(b"ROBERT", b"R\xd8BERT"))
    (ext / "gamma.csv").write_bytes((ext / "gamma.csv").read_bytes().replace(b";Family;", b";Familie;", 1))
    return ext


def test_a_partner_that_cannot_be_read_fails_the_run_and_nothing_is_published_or_stored(prev, hostile, tmp_path):
    from pace_linkage.errors import InputError

    out, db, before = prev
    with pytest.raises(InputError) as info:
        flow(**{**kwargs(hostile, out, db, "broken"), "extracts": str(broken_set(hostile, tmp_path))})
    lines = str(info.value).splitlines()
    assert [ln.split(":")[0] for ln in lines[:2]] == ["source beta", "source gamma"]  # one line per failed source
    assert "beta.jsonl" in lines[0] and "column 'Family' not found" in lines[1]
    assert "nothing published or stored" in lines[2]
    assert len(lines) == 3
    assert_previous(out, before, db)


def test_allow_partial_publishes_without_them_and_says_so_first(prev, hostile, tmp_path):
    out, db, _ = prev
    result = flow(**{**kwargs(hostile, out, db, "partial"), "extracts": str(broken_set(hostile, tmp_path))},
                  allow_partial=True)
    assert result["sources_failed"] == ["beta", "gamma"]
    m = json.loads((out / "metrics.json").read_text())
    assert m["partial"] == {"sources_missing": ["beta", "gamma"], "sources_configured": 3, "rows_missing": 17,
                            "rows_unknown": ["beta"]}
    html = (out / "report.html").read_text()
    body = html.split("<body>", 1)[1].lstrip()
    first = body.split("\n", 1)[0]
    assert first.startswith('<p class="warning" id="first-line"') and "Partial run: 2 of 3 partner(s) missing" in first
    assert "gamma (17 rows)" in first and "beta (rows unknown: the file could not be read)" in first
    with store.open_store(db) as st:
        assert st.run_info("partial")["meta"]["sources_missing"] == ["beta", "gamma"]


def test_a_source_marked_not_required_may_fail_alone(hostile, tmp_path, prefect_harness):
    cfg = write_bytes(tmp_path / "pace.yaml", CONFIG.replace("      file: gamma.csv\n",
                                                             "      file: gamma.csv\n      required: false\n"))
    ext = broken_set(hostile, tmp_path)
    shutil.copy(hostile["extracts"] / "beta.jsonl", ext / "beta.jsonl")  # only gamma (not required) is broken
    result = flow(extracts=str(ext), out=str(tmp_path / "out"), config=str(cfg))
    assert result["sources_failed"] == ["gamma"]
    assert json.loads((tmp_path / "out" / "metrics.json").read_text())["partial"]["sources_missing"] == ["gamma"]


def test_a_header_only_file_is_counted_and_named_not_failed(hostile, tmp_path, prefect_harness):
    ext = tmp_path / "ext"
    shutil.copytree(hostile["extracts"], ext)
    (ext / "gamma.csv").write_bytes((ext / "gamma.csv").read_bytes().split(b"\n", 1)[0] + b"\n")
    flow(extracts=str(ext), out=str(tmp_path / "out"), config=str(hostile["config"]))
    m = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert m["sources_empty"] == ["gamma"] and m["counts"]["by_source"]["gamma"]["rows_in"] == 0
    body = (tmp_path / "out" / "report.html").read_text().split("<body>", 1)[1].lstrip()
    assert body.startswith('<p class="warning" id="first-line"') and "No records delivered by:</strong> gamma" in body


def test_the_cli_fails_on_a_broken_partner_and_allow_partial_runs_without_it(hostile, tmp_path, prefect_harness):
    from typer.testing import CliRunner

    from flows.cli import app

    ext = broken_set(hostile, tmp_path)
    args = ["run", "--extracts", str(ext), "--out", str(tmp_path / "out"), "--config", str(hostile["config"])]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == InputError.exit_code and not (tmp_path / "out" / "manifest.json").exists()
    errors = [ln for ln in res.output.splitlines() if ln.startswith("error: ")]
    # gamma's missing column is found before Prefect starts (beta's bad bytes only when it is read, as the flow
    # test above shows: one line per failed source)
    assert len(errors) == 1 and "columns.surname: column 'Family' not found in gamma.csv" in errors[0]
    assert "Traceback" not in res.output
    res = CliRunner().invoke(app, [*args, "--allow-partial"])
    assert res.exit_code == 0, res.output
    assert "partial run: 2 source(s) failed and are missing: beta, gamma" in res.output


# --------------------------------------------------------------------------------------------------
# Incremental runs against one store are serialisable
# --------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def deliveries(tmp_path_factory) -> Path:
    import synthetic

    out = tmp_path_factory.mktemp("deliveries")
    synthetic.generate_batches(people=120, seed=5, out_dir=out, batches=3)
    return out


class Increment:
    """One incremental run through the flow's own pieces, paused between loading the state and writing."""

    def __init__(self, url: str, folder: Path, run_id: str):
        from flows.incremental import load_state
        from pace_linkage.config import load_config
        from pace_linkage.ingest.sources import assemble
        from pace_linkage.pipeline import read_batches

        self.url, self.folder, self.run_id, self.cfg = url, folder, run_id, load_config()
        self.batches, self.failures = read_batches(self.cfg, folder / "extracts")
        self.records = assemble(self.batches)
        self.state, self.model, self.version, _, _ = load_state.fn(url, self.cfg, self.records, run_id)

    def finish(self) -> dict:
        from flows.incremental import link_batch, store_increment
        from pace_linkage.incremental import persist

        thr = self.cfg.linkage.threshold
        result = link_batch.fn(self.state, self.records, self.cfg, model=self.model, run_id=self.run_id,
                               threshold=thr, deletions=persist.read_deletions(self.folder / "extracts" / "deletions.csv"),
                               clerical=None, refresh_model=False)
        run = persist.run_results(result, self.cfg, thr, self.batches, self.failures, {}, None)
        return store_increment.fn(run, result, self.url, self.run_id, self.version)


def keys(frame: pd.DataFrame) -> set[tuple[str, str]]:
    return set(zip(frame["source"], frame["record_id"], strict=True))


def check_interleaved_runs_lose_nothing(url: str, deliveries: Path) -> None:
    Increment(url, deliveries / "batch_01", "m1").finish()
    paused = Increment(url, deliveries / "batch_02", "m2")  # loads the state, then waits
    third = Increment(url, deliveries / "batch_03", "m3")
    third.finish()  # another run completes meanwhile
    with pytest.raises(store.StoreConflict) as info:
        paused.finish()
    assert str(info.value).endswith("the store changed since this run read its state (run m3 was applied); "
                                    "nothing was written: run again")
    assert "\n" not in str(info.value)
    with store.open_store(url) as st:
        assert sorted(st.runs()["run_id"]) == ["m1", "m3"]
    Increment(url, deliveries / "batch_02", "m2").finish()  # run again: applied after m3
    with store.open_store(url) as st:
        state = st.read_state()
        history = st.read("id_history")
        assert sorted(st.runs()["run_id"]) == ["m1", "m2", "m3"] and st.state_version().serial == 3
    from pace_linkage.incremental import persist

    deleted = persist.read_deletions(deliveries / "batch_02" / "extracts" / "deletions.csv")
    expected = keys(paused.records) | (keys(third.records) - (keys(deleted) if deleted is not None else set()))
    kept = keys(state["state_records"])
    assert len(paused.records) > 50 and expected <= kept  # nothing the two deliveries brought is lost
    assert keys(state["state_assignments"]) == kept and {"m1", "m2", "m3"} <= set(history["run_id"])


def test_two_interleaved_incremental_runs_on_duckdb_end_as_if_applied_in_order(deliveries, tmp_path):
    check_interleaved_runs_lose_nothing(str(tmp_path / "pace.duckdb"), deliveries)


# --------------------------------------------------------------------------------------------------
# On a real PostgreSQL: serialisable writers, and what a partner role reads of the runs
# --------------------------------------------------------------------------------------------------
def _pg():
    sys.path.insert(0, str(ROOT / "tests" / "store"))
    import pg

    return pg


@pytest.fixture(scope="module")
def pg_server():
    pg = _pg()
    reason = pg.skip_reason()
    if reason:
        pytest.skip(reason)
    pytest.importorskip("psycopg")
    srv = pg.start_postgres()
    yield srv
    srv.stop()


@pytest.fixture
def pg_url(pg_server, request) -> str:
    import psycopg

    name = "pace_" + hashlib.sha256(request.node.name.encode()).hexdigest()[:12]
    with psycopg.connect(pg_server.url(), autocommit=True) as con:
        con.execute(f"DROP DATABASE IF EXISTS {name}")
        con.execute(f"CREATE DATABASE {name}")
    return pg_server.url(dbname=name)


def test_two_interleaved_incremental_runs_on_postgresql_end_as_if_applied_in_order(deliveries, pg_url):
    check_interleaved_runs_lose_nothing(pg_url, deliveries)


def small_state(tag: str) -> dict[str, pd.DataFrame]:
    return {"state_ids": pd.DataFrame({"pace_id": [f"P-{tag}"], "status": ["active"]}),
            "state_assignments": pd.DataFrame({"source": ["dwp"], "record_id": [tag], "pace_id": [f"P-{tag}"]})}


def test_two_postgresql_writers_at_the_same_moment_take_turns_and_the_later_is_refused(pg_url, monkeypatch):
    from pace_linkage.store.postgres import PostgresStore

    meta = {"sources": ["dwp"], "id_column": "pace_id"}
    with store.open_store(pg_url) as st:
        st.write_run("w0", {}, meta, state=small_state("0"))
        seen = st.state_version()
    inside, go_on = threading.Event(), threading.Event()
    real = PostgresStore._write_table

    def held(self, name, df, run_id):  # the first writer stops inside its transaction
        real(self, name, df, run_id)
        if run_id == "w1":
            inside.set()
            go_on.wait(30)

    monkeypatch.setattr(PostgresStore, "_write_table", held)
    errors: dict[str, BaseException] = {}

    def writer(run_id: str) -> None:
        try:
            with store.open_store(pg_url) as st:
                st.write_run(run_id, {}, meta, state=small_state(run_id), expect_state=seen)
        except BaseException as exc:  # noqa: BLE001
            errors[run_id] = exc

    first = threading.Thread(target=writer, args=("w1",))
    first.start()
    assert inside.wait(30)
    second = threading.Thread(target=writer, args=("w2",))
    second.start()
    time.sleep(0.5)
    assert second.is_alive()  # waiting for the first writer's transaction
    go_on.set()
    first.join(30)
    second.join(30)
    assert "w1" not in errors and isinstance(errors.get("w2"), store.StoreConflict)
    assert "(run w1 was applied)" in str(errors["w2"])
    with store.open_store(pg_url) as st:
        assert st.state_version() == store.StateVersion(2, "w1")
        assert st.read_state()["state_ids"]["pace_id"].tolist() == ["P-w1"]


def test_a_partner_role_sees_only_its_own_runs_and_its_own_counts(pg_url):
    import psycopg

    sys.path.insert(0, str(ROOT / "tests" / "store"))
    from test_store import META, frames

    with store.open_store(pg_url) as st:
        st.write_run("both", frames(), {**META, "sources": ["dwp", "sds"]})
        only_sds = {k: v[v["source"] == "sds"] if "source" in v.columns else v.iloc[0:0] for k, v in frames().items()}
        st.write_run("sds-only", only_sds, {**META, "sources": ["sds"]})
    with psycopg.connect(pg_url, autocommit=True) as con:
        con.execute('ALTER ROLE "pace_dwp" LOGIN')
    with psycopg.connect(pg_url.replace("postgresql://postgres@", "postgresql://pace_dwp@"), autocommit=True) as con:
        assert con.execute("SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user").fetchall() \
            == [(False, False)]  # RLS applies: never test this as a superuser
        assert con.execute("SELECT run_id FROM pace.runs ORDER BY run_id").fetchall() == [("both",)]
        assert con.execute("SELECT run_id, records FROM pace.partner_runs").fetchall() == [("both", 3)]
        for column in ("sources", "records", "pairs", "clusters", "meta", "*"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                con.execute(f"SELECT {column} FROM pace.runs")
        for table in ("state_head", "pairs"):
            with pytest.raises((psycopg.errors.InsufficientPrivilege, psycopg.errors.UndefinedTable)):
                con.execute(f"SELECT * FROM pace.{table}")


def test_a_follow_up_command_pointed_at_a_run_folder_never_removes_the_run(tmp_path):
    from pace_linkage.evaluate.tune import recommend, write_tune

    out = tmp_path / "out"
    publish_files(out, "r1", {"clusters.csv": "a\n", "report.html": "r1\n"})
    sweep = pd.DataFrame({"threshold": [0.5], "precision": [1.0], "recall": [1.0], "f1": [1.0], "links": [1],
                          "clusters": [1], "match_weight": [0.0]})
    write_tune(out, sweep, recommend(sweep, 0.99, 0.5))  # pace-linkage tune --run OUT --out OUT
    assert (out / "clusters.csv").read_text() == "a\n" and (out / "report.html").exists()


def test_a_duckdb_store_another_process_has_open_is_waited_for_then_refused_in_one_line(tmp_path, monkeypatch):
    from pace_linkage.store import duckdb as duck

    path = tmp_path / "pace.duckdb"
    store.open_store(path).close()
    holder = subprocess.Popen([sys.executable, "-c", "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); "
                               "print('held', flush=True); time.sleep(float(sys.argv[2]))", str(path), "1.5"],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        t0 = time.monotonic()
        store.open_store(path).close()  # waits for the other process's turn
        assert time.monotonic() - t0 > 0.3
    finally:
        holder.wait(30)
        holder.stdout.close()
    monkeypatch.setattr(duck, "OPEN_WAIT_SECONDS", 0.3)
    holder = subprocess.Popen([sys.executable, "-c", "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); "
                               "print('held', flush=True); time.sleep(30)", str(path)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(InputError) as info:
            store.open_store(path)
        assert str(info.value) == (f"store duckdb:{path}: in use by another process (another run writing it?) for "
                                   "more than 0.3 s; run again when it has finished")
    finally:
        holder.kill()
        holder.wait(30)
        holder.stdout.close()

"""Privacy: a planted canary person never shows up outside the explicit PII exports.

A canary identity (a distinctive valid NI number, surname, first name, date of birth and postcode) is added
to two partners' extracts, in their own formats, so that it links. Three flow runs follow under the session
Prefect harness with every log line captured: a good run, a run stopped by the fault hook after normalise,
and a run in which a stage hits a bug whose exception quotes the canary NI number. Then the canary's raw and
normalised forms are searched for in every output file (except ``quarantine/<source>.csv``), the captured
logs, Prefect's artifacts, flow/task run state messages and logs read back through the client, the harness's
SQLite database and every file under PREFECT_HOME.
"""

from __future__ import annotations

import base64
import csv
import io
import json
import logging
import re
import shutil
import warnings
from pathlib import Path

import pandas as pd
import pytest

pytestmark = pytest.mark.e2e

CANARY_NINO_RAW = "JZ 48 19 37 B"  # as SDS keys it (spaced); DWP keys it compact
CANARY_NINO = "JZ481937B"
CANARY_STEM = "JZ481937"
CANARY_SURNAME = "ZYLBERSZTEJNOWA"
CANARY_FIRST = "QUILLIANORA"
CANARY_POSTCODE = "KW17 2QZ"
# the date of birth in every written form a partner, the normaliser or a serialiser might use
CANARY_DOB_FORMS = ["1967-08-23", "23/08/1967", "19670823", "23-08-1967", "1967/08/23", "23.08.1967", "08/23/1967"]
CANARY_STRINGS = [CANARY_NINO_RAW, CANARY_NINO, CANARY_STEM, CANARY_SURNAME, CANARY_FIRST, *CANARY_DOB_FORMS]
CANARY_IDS = {"sds": "SDS9999991", "dwp": "499999999"}
BASE64_RUN = re.compile(rb"[A-Za-z0-9+/][A-Za-z0-9+/\r\n]{23,}")
RAW_NINO = re.compile(r"[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z]\d{6}[A-D]?")
WATCHED_LOGGERS = ["prefect", "prefect._internal", "prefect.extra", "pace_linkage", "flows"]


# ------------------------------------------------------------------------------------------------ helpers
def canary_hits(text: str) -> list[str]:
    """Which canary strings occur in ``text`` (case-insensitive)."""
    low = text.lower()
    return [c for c in CANARY_STRINGS if c.lower() in low]


def scan_text(data: bytes) -> str:
    """Bytes as text to scan, with every base64 run decoded too (Prefect stores pickles base64-encoded)."""
    text = data.decode("utf-8", errors="replace")
    decoded = []
    for run in BASE64_RUN.findall(data):
        run = re.sub(rb"\s", b"", run)
        for shift in range(4):  # the run may start with a few characters that are not part of the encoding
            chunk = run[shift:]
            chunk = chunk[: len(chunk) - len(chunk) % 4]
            decoded.append(base64.b64decode(chunk).decode("utf-8", errors="replace"))
    return "\n".join([text, *decoded])


def file_text(path: Path) -> str:
    """A file's content as text to scan: parquet decoded to CSV (its pages are compressed), others as bytes."""
    if path.suffix == ".parquet":
        return pd.read_parquet(path).to_csv(index=False)
    return path.read_bytes().decode("utf-8", errors="replace")


def add_row(path: Path, delimiter: str, changes: dict[str, str], consent_col: str) -> None:
    """Append a copy of the first consenting data row with ``changes`` applied, in the file's own dialect."""
    raw = path.read_bytes().decode("utf-8")
    newline = "\r\n" if "\r\n" in raw else "\n"
    rows = list(csv.DictReader(io.StringIO(raw), delimiter=delimiter))
    template = next(r for r in rows if r[consent_col] == "Y")
    row = {**template, **changes}
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0].keys()), delimiter=delimiter, lineterminator=newline)
    writer.writerow(row)
    path.write_bytes((raw if raw.endswith(newline) else raw + newline).encode("utf-8") + buf.getvalue().encode())


def plant_canary(src: Path, dest: Path) -> Path:
    """Copy a synthetic data set and add the canary to SDS (d/m/Y, spaced NINO) and DWP (YYYYMMDD, caps)."""
    shutil.copytree(src, dest)
    ext = dest / "extracts"
    add_row(ext / "sds_pace_clients.csv", ",", {
        "Client_Ref": CANARY_IDS["sds"], "NINO": CANARY_NINO_RAW, "Forename": CANARY_FIRST.title(),
        "Middle_Name": "", "Surname": CANARY_SURNAME.title(), "Date_of_Birth": "23/08/1967", "Gender": "Female",
        "Postcode": CANARY_POSTCODE, "Email": f"{CANARY_FIRST}.{CANARY_SURNAME}@example.org".lower(), "SCN": "",
    }, "Consent_To_Share")
    add_row(ext / "dwp_pace_referrals.txt", "|", {
        "CLAIM_REF": CANARY_IDS["dwp"], "NINO": CANARY_NINO, "FORENAME": CANARY_FIRST, "SURNAME": CANARY_SURNAME,
        "DOB": "19670823", "SEX": "F", "POSTCODE": CANARY_POSTCODE.replace(" ", ""),
    }, "CONSENT_IND")
    with open(ext / "fife_council_clients.csv", "ab") as fh:  # a ragged row, so quarantine/ is written too
        fh.write(b"FC-099999;Short\n")
    with open(dest / "truth.csv", "a", encoding="utf-8") as fh:
        fh.write("".join(f"{s},{rid},PCANARY\n" for s, rid in CANARY_IDS.items()))
    return dest


class Capture(logging.Handler):
    """Keeps every formatted record, tracebacks included (what caplog would see, for a whole module)."""

    def __init__(self):
        super().__init__(level=logging.DEBUG)
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


def harness_database() -> Path:
    from prefect.settings import PREFECT_SERVER_DATABASE_CONNECTION_URL

    url = PREFECT_SERVER_DATABASE_CONNECTION_URL.value()
    return Path(url.split(":///", 1)[1])


# ----------------------------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def canary(synth_data, tmp_path_factory) -> Path:
    return plant_canary(synth_data, tmp_path_factory.mktemp("canary") / "data")


@pytest.fixture(scope="module")
def runs(prefect_harness, canary, tmp_path_factory):
    """A good run, a fault-injected run and a run hitting a value-quoting bug, with every log line captured."""
    from flows import tasks
    from flows.pipeline import pace_linkage_pipeline
    from pace_linkage.engine import compare as engine_compare

    cap = Capture()
    saved = {}
    for name in WATCHED_LOGGERS:
        lg = logging.getLogger(name)
        saved[name] = lg.level
        lg.addHandler(cap)
        lg.setLevel(logging.DEBUG)
    args = dict(extracts=str(canary / "extracts"), truth=str(canary / "truth.csv"))
    try:
        out = tmp_path_factory.mktemp("canary_out")
        good = pace_linkage_pipeline(out=str(out), run_id="canary", return_state=True, **args)
        faulted_out = tmp_path_factory.mktemp("canary_fault")
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv(tasks.FAULT_ENV, "block")
            faulted = pace_linkage_pipeline(out=str(faulted_out), return_state=True, **args)
        with pytest.MonkeyPatch.context() as mp:
            def buggy(records, pairs, comparisons, **kw):
                raise KeyError(f"no such value {CANARY_NINO} for {CANARY_SURNAME} born 1967-08-23")

            mp.delenv(tasks.DEBUG_ENV, raising=False)
            mp.setattr(engine_compare, "compare", buggy)
            bug = pace_linkage_pipeline(out=str(tmp_path_factory.mktemp("canary_bug")), return_state=True, **args)
        from prefect.logging.handlers import APILogWorker

        APILogWorker.drain_all(timeout=10)  # the run logs reach the API database before it is read
    finally:
        for name, level in saved.items():
            lg = logging.getLogger(name)
            lg.removeHandler(cap)
            lg.setLevel(level)
    return {"out": out, "good": good, "faulted": faulted, "faulted_out": faulted_out, "bug": bug, "logs": cap.lines}


def flow_run_ids(runs) -> list:
    return [runs[k].state_details.flow_run_id for k in ("good", "faulted", "bug")]


# -------------------------------------------------------------------------------------------------- tests
def test_the_canary_is_linked_across_the_two_partners(runs):
    assert runs["good"].is_completed()
    cl = pd.read_csv(runs["out"] / "clusters.csv", dtype=str, keep_default_na=False)
    ids = cl[cl["record_id"].isin(CANARY_IDS.values())]
    assert sorted(ids["source"]) == ["dwp", "sds"]  # accepted, not quarantined
    assert ids["pace_id"].nunique() == 1


def test_no_output_file_except_the_quarantine_exports_holds_the_canary(runs):
    out = runs["out"]
    files = [p for p in sorted(out.rglob("*")) if p.is_file()]
    scanned = [p for p in files if p.parent != out / "quarantine"]
    assert {"clusters.csv", "pairs.parquet", "report.html", "metrics.json", "model.json"} <= {p.name for p in scanned}
    leaks = {str(p.relative_to(out)): canary_hits(file_text(p)) for p in scanned}
    assert {k: v for k, v in leaks.items() if v} == {}


def test_report_and_metrics_hold_no_raw_ni_number(runs):
    for name in ("report.html", "metrics.json"):
        assert RAW_NINO.findall((runs["out"] / name).read_text()) == [], name


def test_captured_logs_hold_no_canary_and_no_ni_number(runs):
    logs = "\n".join(runs["logs"])
    assert "Finished in state Completed" in logs and "StageError" in logs  # the capture saw all three runs
    assert canary_hits(logs) == []
    assert RAW_NINO.findall(logs) == []


def test_prefect_artifacts_hold_no_canary_and_no_ni_number(runs):
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts()
    mine = [a for a in artifacts if a.flow_run_id == runs["good"].state_details.flow_run_id]
    assert {a.key for a in mine} >= {"pace-linkage-summary", "pace-linkage-rows-per-source"}
    text = "\n".join(f"{a.key} {a.description} {a.data}" for a in artifacts)
    assert canary_hits(text) == []
    assert RAW_NINO.findall(text) == []


def test_failed_runs_store_value_free_state_messages(runs):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    assert runs["faulted"].is_failed() and runs["bug"].is_failed()
    with get_client(sync_client=True) as client:
        ids = flow_run_ids(runs)
        messages = []
        for fid in ids:
            messages += [s.message or "" for s in client.read_flow_run_states(fid)]
        task_runs = client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=ids)))
        for tr in task_runs:
            messages += [s.message or "" for s in client.read_task_run_states(tr.id)]
        faulted = client.read_flow_run(ids[1]).state.message
        bug = client.read_flow_run(ids[2]).state.message
    text = "\n".join(messages)
    assert "block" in faulted and "InjectedFault" in faulted
    assert "compare" in bug and "KeyError" in bug
    assert canary_hits(text) == []
    assert RAW_NINO.findall(text) == []


def test_prefect_run_logs_stored_by_the_api_hold_no_canary(runs):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId

    flt = LogFilter(flow_run_id=LogFilterFlowRunId(any_=flow_run_ids(runs)))
    logs = []
    with get_client(sync_client=True) as client:
        while batch := client.read_logs(log_filter=flt, limit=200, offset=len(logs)):
            logs += batch
    text = "\n".join(lg.message for lg in logs)
    assert "fault injected" in text  # the failed runs' logs are there
    assert canary_hits(text) == []
    assert RAW_NINO.findall(text) == []


def test_a_failed_run_leaves_no_staging_folder_and_writes_nothing(runs):
    assert [p.name for p in runs["faulted_out"].iterdir()] == []


def test_prefect_home_and_the_api_database_hold_no_canary(runs, prefect_home):
    db = harness_database()
    files = [p for p in sorted(prefect_home.rglob("*")) if p.is_file()]
    files += [p for p in sorted(db.parent.glob(db.name + "*")) if p.is_file()]  # the db, -wal, -shm
    assert db in files
    leaks = {str(p): canary_hits(scan_text(p.read_bytes())) for p in files}
    assert {k: v for k, v in leaks.items() if v} == {}


def test_prefect_storage_keeps_only_value_free_failures(runs, prefect_home):
    """Prefect writes a failed flow's exception (pickled, base64) to PREFECT_HOME/storage even when results
    are not persisted: the stage guard is what keeps a value out of it."""
    stored = [scan_text(p.read_bytes()) for p in sorted((prefect_home / "storage").rglob("*")) if p.is_file()]
    assert any("StageError" in t for t in stored) and any("InjectedFault" in t for t in stored)
    assert [canary_hits(t) for t in stored if canary_hits(t)] == []
    assert [RAW_NINO.findall(t) for t in stored if RAW_NINO.findall(t)] == []


def test_a_bug_quoting_a_value_is_reraised_without_it_and_with_debug_as_is(monkeypatch):
    from flows.tasks import DEBUG_ENV, StageError, stage_guard

    @stage_guard("compare")
    def body():
        return {}["AB123456C"]

    monkeypatch.delenv(DEBUG_ENV, raising=False)
    with pytest.raises(StageError) as info:
        body()
    assert "AB123456C" not in str(info.value) and "compare" in str(info.value) and "KeyError" in str(info.value)
    assert info.value.__cause__ is None and info.value.__context__ is None
    monkeypatch.setenv(DEBUG_ENV, "1")
    with pytest.raises(KeyError):
        body()


def test_every_output_file_is_owner_only_including_quarantine_tune_and_review(runs, canary, tmp_path):
    from typer.testing import CliRunner

    from flows.cli import app

    out = runs["out"]
    assert (out / "quarantine" / "fife_council.csv").is_file()  # the ragged row's PII export
    tune_out = tmp_path / "tune" / "deeper"
    sheet = tmp_path / "review" / "nested" / "sheet.csv"
    cli = CliRunner()
    tuned = cli.invoke(app, ["tune", "--truth", str(canary / "truth.csv"), "--run", str(out), "--out", str(tune_out)])
    assert tuned.exit_code == 0, tuned.output
    exported = cli.invoke(app, ["review", "export", "--run", str(out), "--extracts", str(canary / "extracts"),
                                "--out", str(sheet), "--n", "20"])
    assert exported.exit_code == 0, exported.output
    checked = [out, tmp_path / "tune", tmp_path / "review"]
    paths = [p for root in checked for p in [root, *sorted(root.rglob("*"))]]
    assert sheet in paths and tune_out / "thresholds.csv" in paths
    modes = {str(p): oct(p.stat().st_mode & 0o777) for p in paths}
    wrong = {k: m for k, m in modes.items() if m != (oct(0o700) if Path(k).is_dir() else oct(0o600))}
    assert wrong == {}


@pytest.mark.filterwarnings("ignore:A test tried to use socket")
def test_the_flow_runs_with_every_socket_but_loopback_blocked(prefect_harness, canary, tmp_path):
    """Also with small counts suppressed (threshold 8): the artifacts show the one quarantined row as '*'."""
    import pytest_socket
    from prefect.client.orchestration import get_client

    from flows.pipeline import pace_linkage_pipeline
    from pace_linkage.config import DEFAULT_CONFIG

    cfg_dir = tmp_path / "config"
    shutil.copytree(DEFAULT_CONFIG.parent, cfg_dir)
    top = cfg_dir / DEFAULT_CONFIG.name
    top.write_text(re.sub(r"small_count_threshold: \d+", "small_count_threshold: 8", top.read_text()))
    pytest_socket.socket_allow_hosts(["127.0.0.1", "localhost", "::1"], allow_unix_socket=True)
    try:
        with pytest.raises(pytest_socket.SocketConnectBlockedError):  # the block is real
            import socket

            socket.create_connection(("192.0.2.1", 443), timeout=1)
        with warnings.catch_warnings(record=True) as caught:  # a blocked attempt that is caught still warns
            warnings.simplefilter("always")
            state = pace_linkage_pipeline(extracts=str(canary / "extracts"), out=str(tmp_path / "out"),
                                          config=str(top), return_state=True)
    finally:
        pytest_socket._remove_restrictions()
    assert state.is_completed() and (tmp_path / "out" / "manifest.json").is_file()
    assert [str(w.message) for w in caught if "socket" in str(w.message)] == []
    with get_client(sync_client=True) as client:
        table = next(a for a in client.read_artifacts() if a.flow_run_id == state.state_details.flow_run_id
                     and a.key == "pace-linkage-rows-per-source")
    rows = {r["source"]: r for r in (json.loads(table.data) if isinstance(table.data, str) else table.data)}
    assert rows["fife_council"]["rows_quarantined"] == "*"
    shown = [v for r in rows.values() for k, v in r.items() if k != "source" and v != "*"]
    assert shown and all(v == 0 or v >= 8 for v in shown)


def test_telemetry_is_off_in_the_flow_settings_and_in_ci():
    from flows.settings import OFFLINE_DEFAULTS

    assert OFFLINE_DEFAULTS["DO_NOT_TRACK"] == "1"
    assert OFFLINE_DEFAULTS["PREFECT_SERVER_ANALYTICS_ENABLED"] == "false"
    ci = (Path(__file__).resolve().parents[2] / ".ci" / "run").read_text()
    assert re.search(r"(?m)^export DO_NOT_TRACK=1\b", ci)

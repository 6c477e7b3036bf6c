"""Repeatability: the same inputs give byte-identical outputs, whatever the process, hash seed or row order.

Two ``pace-linkage run`` processes at once (PYTHONHASHSEED=0 and =1, each with its own PREFECT_HOME and
starting its own ephemeral Prefect API, as a plain ``pace-linkage run`` does) must write byte-identical clusters.csv, pairs.parquet, quarantine.csv, metrics.json and
report.html; their manifests may differ only in run id, timestamps and timings. Shuffling the rows of every
extract and renaming the files must leave clusters.csv identical. (``synth --seed`` repeatability is in
tests/synthetic/test_synthetic.py.)
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import random
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
DETERMINISTIC = ["clusters.csv", "pairs.parquet", "quarantine.csv", "metrics.json", "report.html"]
MANIFEST_VOLATILE = {"run_id", "started", "finished", "timings_seconds"}


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def cli_run(data: Path, out: Path, prefect_home: Path, hash_seed: int) -> subprocess.Popen:
    """``pace-linkage run`` started in a fresh process with its own ephemeral Prefect API under ``prefect_home``."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PREFECT_API", "PREFECT_SERVER_DATABASE", "PACE_LINKAGE_"))}
    env.update(PYTHONHASHSEED=str(hash_seed), PREFECT_HOME=str(prefect_home), PYTHONPATH=str(ROOT),
               PACE_LINKAGE_API_IDLE_MINUTES="0")  # an API of its own, stopped with it
    cmd = [sys.executable, "-m", "flows", "run", "--extracts", str(data / "extracts"), "--out", str(out),
           "--truth", str(data / "truth.csv")]
    return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.fixture(scope="module")
def cli_runs(synth_data, tmp_path_factory):
    """Both processes run side by side (most of each is Prefect's start-up on one core)."""
    homes = {seed: tmp_path_factory.mktemp(f"cli_prefect_home{seed}") for seed in (0, 1)}
    outs = {seed: tmp_path_factory.mktemp(f"cli_hashseed{seed}") for seed in (0, 1)}
    procs = {seed: cli_run(synth_data, outs[seed], homes[seed], seed) for seed in (0, 1)}
    for proc in procs.values():
        _, stderr = proc.communicate(timeout=300)
        assert proc.returncode == 0, stderr[-2000:]
    return outs, homes


# --------------------------------------------------------------------------------------- separate processes
def test_two_processes_with_different_hash_seeds_write_byte_identical_outputs(cli_runs):
    outs, _ = cli_runs
    for name in DETERMINISTIC:
        assert sha(outs[0] / name) == sha(outs[1] / name), name


def test_the_cli_outputs_equal_the_in_process_flow_outputs(cli_runs, run_out):
    outs, _ = cli_runs
    out, _ = run_out
    for name in DETERMINISTIC:
        assert sha(outs[0] / name) == sha(out / name), name


def test_manifests_differ_only_in_run_id_timestamps_and_timings(cli_runs):
    outs, _ = cli_runs
    a, b = (json.loads((outs[s] / "manifest.json").read_text()) for s in (0, 1))
    assert a["run_id"] != b["run_id"]
    assert set(a) == set(b) and set(a) >= MANIFEST_VOLATILE
    assert {k: v for k, v in a.items() if k not in MANIFEST_VOLATILE} == \
        {k: v for k, v in b.items() if k not in MANIFEST_VOLATILE}


def test_cli_runs_leave_no_ni_number_of_the_extracts_in_prefect_home(cli_runs, synth_data):
    """The CLI's own PREFECT_HOME holds its SQLite API database: no NI number of the input may be in it."""
    _, homes = cli_runs
    dwp = (synth_data / "extracts" / "dwp_pace_referrals.txt").read_text()
    ninos = {row["NINO"] for row in csv.DictReader(io.StringIO(dwp), delimiter="|") if len(row["NINO"]) >= 8}
    assert len(ninos) > 50
    files = [p for home in homes.values() for p in sorted(home.rglob("*")) if p.is_file()]
    assert any(p.suffix == ".db" for p in files)
    pattern = re.compile("|".join(sorted(re.escape(n[:8]) for n in ninos)).encode())
    assert [str(p) for p in files if pattern.search(p.read_bytes())] == []


def test_no_output_is_a_gzip_or_zip_archive(cli_runs):
    """gzip and zip embed timestamps: none is written (parquet pages are zstd, which embeds none)."""
    outs, _ = cli_runs
    for p in sorted(outs[0].rglob("*")):
        if p.is_file():
            head = p.read_bytes()[:4]
            assert not head.startswith(b"\x1f\x8b") and head != b"PK\x03\x04", p.name


def test_synthetic_spreadsheets_carry_fixed_timestamps(synth_data):
    """The xlsx extracts are zip files: every member and the document properties have a fixed date."""
    books = sorted((synth_data / "extracts").glob("*.xlsx"))
    assert books
    for book in books:
        with zipfile.ZipFile(book) as z:
            assert len({i.date_time for i in z.infolist()}) == 1, book.name
            core = z.read("docProps/core.xml").decode()
        stamps = set(re.findall(r"<dcterms:(?:created|modified)[^>]*>([^<]+)<", core))
        assert len(stamps) == 1, book.name


# ---------------------------------------------------------------------------------- row order and file names
def shuffle_csv(path: Path, rng: random.Random) -> None:
    """Shuffle the single-line records of a delimited file in place; the header and multi-line records stay."""
    text = path.read_bytes().decode("latin-1")  # byte-for-byte; quotes and newlines are ASCII in every codec used
    lines = text.splitlines(keepends=True)
    reader = csv.reader(io.StringIO(text, newline=""))
    spans, start = [], 0
    for _ in reader:
        spans.append((start, reader.line_num))
        start = reader.line_num
    single = [i for i, (a, b) in enumerate(spans[1:], 1) if b - a == 1 and lines[a].strip()]
    order = single[:]
    rng.shuffle(order)
    records = ["".join(lines[a:b]) for a, b in spans]
    moved = list(records)
    for dst, src in zip(single, order, strict=True):
        moved[dst] = records[src]
    if moved and not moved[-1].endswith(("\n", "\r")):  # the last line may lack a newline: keep every row whole
        moved = [r if r.endswith(("\n", "\r")) else r + "\n" for r in moved]
    path.write_bytes("".join(moved).encode("latin-1"))


def shuffle_jsonl(path: Path, rng: random.Random) -> None:
    lines = [ln for ln in path.read_bytes().split(b"\n") if ln.strip()]
    rng.shuffle(lines)
    path.write_bytes(b"\n".join(lines) + b"\n")


def shuffle_xlsx(path: Path, sheet: str | None, rng: random.Random) -> None:
    """Shuffle the data rows of one sheet, moving each cell's value and number format together."""
    import openpyxl

    wb = openpyxl.load_workbook(path)
    ws = wb[sheet] if sheet else wb.worksheets[0]
    rows = [[(c.value, c.number_format) for c in row] for row in ws.iter_rows(min_row=2)]
    rng.shuffle(rows)
    for r, row in enumerate(rows, start=2):
        for c, (value, fmt) in enumerate(row, start=1):
            cell = ws.cell(row=r, column=c)
            cell.value, cell.number_format = value, fmt
    wb.save(path)


def shuffled_and_renamed(synth_data: Path, tmp: Path) -> tuple[Path, Path]:
    """A copy of the extracts with rows shuffled and every partner file renamed, plus a config pointing at it."""
    from pace_linkage.config import DEFAULT_CONFIG

    rng = random.Random(11)
    ext = tmp / "extracts"
    ext.mkdir(parents=True)
    cfg_dir = tmp / "config"
    (cfg_dir / "partners").mkdir(parents=True)
    shutil.copy(DEFAULT_CONFIG, cfg_dir / DEFAULT_CONFIG.name)
    for i, part in enumerate(sorted((DEFAULT_CONFIG.parent / "partners").glob("*.yaml"))):
        doc = yaml.safe_load(part.read_text())
        new_name = f"partner_{i:02d}_renamed{Path(doc['file']).suffix}"
        target = ext / new_name
        shutil.copy(synth_data / "extracts" / doc["file"], target)
        if doc["format"] == "csv":
            shuffle_csv(target, rng)
        elif doc["format"] == "jsonl":
            shuffle_jsonl(target, rng)
        else:
            shuffle_xlsx(target, doc.get("sheet"), rng)
        text = re.sub(r"(?m)^file:.*$", f"file: {new_name}", part.read_text())
        (cfg_dir / "partners" / part.name).write_text(text)
    return ext, cfg_dir / DEFAULT_CONFIG.name


def test_shuffled_rows_and_renamed_files_give_identical_clusters(run_out, synth_data, tmp_path):
    from flows.pipeline import pace_linkage_pipeline

    out, _ = run_out
    ext, cfg = shuffled_and_renamed(synth_data, tmp_path / "shuffled")
    assert not (set(p.name for p in ext.iterdir()) & set(p.name for p in (synth_data / "extracts").iterdir()))
    dwp_old = (synth_data / "extracts" / "dwp_pace_referrals.txt").read_bytes()
    dwp_new = next(p for p in ext.iterdir() if p.suffix == ".txt").read_bytes()
    assert dwp_old != dwp_new and sorted(dwp_old.splitlines()) == sorted(dwp_new.splitlines())
    new_out = tmp_path / "out"
    pace_linkage_pipeline(extracts=str(ext), out=str(new_out), config=str(cfg), truth=str(synth_data / "truth.csv"))
    assert sha(new_out / "clusters.csv") == sha(out / "clusters.csv")

"""The command line: help on every verb, a version, and one-line failures without tracebacks."""

from __future__ import annotations

import subprocess
import sys

import pytest
from conftest import ROOT, write

VERBS = ["synth", "run", "demo", "febrl", "serve", "tune", "review", "review export", "review import", "scenarios",
         "employers"]


def cli(*args: str, timeout: int = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "flows", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT)


@pytest.mark.parametrize("verb", VERBS)
def test_every_verb_has_help(verb):
    res = cli(*verb.split(), "--help")
    assert res.returncode == 0, res.stderr
    assert "Usage" in res.stdout and verb in res.stdout


def test_version_prints_the_package_version():
    import pace_linkage

    res = cli("--version")
    assert res.returncode == 0 and res.stdout.strip() == f"pace-linkage {pace_linkage.__version__}"


def test_a_bad_config_fails_fast_with_one_stderr_line_and_no_traceback(tmp_path):
    bad = write(tmp_path / "bad.yaml", "fields: {}\nidentifying_fields: []\nsources: {items: []}\nlinkage: {blocking: [], comparisons: [], thresold: 1}\n")
    res = cli("run", "--extracts", str(tmp_path), "--out", str(tmp_path / "out"), "--config", str(bad))
    lines = res.stderr.strip().splitlines()
    assert res.returncode == 2
    assert len(lines) == 1 and "linkage.thresold: unknown key" in lines[0]
    assert all(len(ln) <= 200 and "bad.yaml" in ln for ln in lines)
    assert "Traceback" not in res.stderr
    assert "temporary server" not in res.stderr  # failed before Prefect started (no timing assertion)
    assert not (tmp_path / "out").exists()


def test_febrl_helper_writes_extracts_and_truth_apart(tmp_path):
    res = cli("febrl", "--which", "3", "--out", str(tmp_path))
    assert res.returncode == 0, res.stderr
    assert (tmp_path / "extracts" / "febrl3.csv").exists()
    truth = (tmp_path / "truth.csv").read_text().splitlines()
    assert truth[0] == "source,record_id,person_id" and len(truth) == 5001
    assert not (tmp_path / "extracts" / "truth.csv").exists()

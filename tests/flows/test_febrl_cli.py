"""A data set from outside Scotland links with a new config file and no code change (FEBRL 3)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from conftest import ROOT

pytestmark = pytest.mark.e2e

F1_BAR = 0.999  # Splink, unsupervised, reaches 0.9994 on FEBRL 3 after clustering


def test_febrl3_links_through_the_cli_with_its_example_config(tmp_path, prefect_home):
    data = tmp_path / "febrl3"
    out = tmp_path / "out"
    cli = [sys.executable, "-m", "flows"]
    res = subprocess.run([*cli, "febrl", "--which", "3", "--out", str(data)], capture_output=True, text=True, cwd=ROOT)
    assert res.returncode == 0, res.stderr
    res = subprocess.run(
        [*cli, "run", "--config", "config/examples/febrl3.yaml", "--extracts", str(data / "extracts"),
         "--truth", str(data / "truth.csv"), "--out", str(out)],
        capture_output=True, text=True, cwd=ROOT, timeout=300,
    )
    assert res.returncode == 0, res.stderr[-2000:]
    assert "report:" in res.stdout
    m = json.loads((out / "metrics.json").read_text())
    assert m["counts"]["rows_in"] == 5000 == m["counts"]["rows_accepted"] + m["counts"]["rows_quarantined"]
    assert m["pairwise"]["f1"] >= F1_BAR, m["pairwise"]

"""A data set from outside Scotland links with a new config file and no code change (FEBRL 3).

The ``febrl`` and ``run`` verbs are called in this process (typer's runner) against the session's Prefect
API: the verbs, the example config and the flow are the point here, not process start-up (which
tests/flows/test_repeatable.py and tests/hostile/test_signals.py exercise as separate processes).
"""

from __future__ import annotations

import json
import os

import pytest
from conftest import ROOT

pytestmark = pytest.mark.e2e

F1_BAR = 0.999  # Splink, unsupervised, reaches 0.9994 on FEBRL 3 after clustering


def test_febrl3_links_through_the_cli_with_its_example_config(tmp_path, prefect_harness, monkeypatch):
    from typer.testing import CliRunner

    from flows.cli import app

    data = tmp_path / "febrl3"
    out = tmp_path / "out"
    monkeypatch.chdir(ROOT)  # the example config is named relative to the repository, as a user types it
    environ = dict(os.environ)  # the run verb sets Prefect's console log levels for its process
    try:
        res = CliRunner().invoke(app, ["febrl", "--which", "3", "--out", str(data)])
        assert res.exit_code == 0, res.output
        res = CliRunner().invoke(app, ["run", "--config", "config/examples/febrl3.yaml", "--extracts",
                                       str(data / "extracts"), "--truth", str(data / "truth.csv"), "--out", str(out)])
    finally:
        os.environ.clear()
        os.environ.update(environ)
    assert res.exit_code == 0, res.output[-2000:]
    assert "report:" in res.stdout
    m = json.loads((out / "metrics.json").read_text())
    assert m["counts"]["rows_in"] == 5000 == m["counts"]["rows_accepted"] + m["counts"]["rows_quarantined"]
    assert m["pairwise"]["f1"] >= F1_BAR, m["pairwise"]

"""What a command imports before it can fail: a bad config is reported before pandas or Prefect load (numpy
comes with the engine settings the config is checked against)."""

from __future__ import annotations

import json
import subprocess
import sys

from conftest import ROOT, write

PROBE = """
import json, sys
from flows.cli import app
try:
    app(sys.argv[1:])
except SystemExit as exc:
    code = exc.code
print(json.dumps({"code": code, "loaded": sorted(m for m in ("pandas", "prefect", "pyarrow") if m in sys.modules)}))
"""


def test_a_bad_config_is_reported_before_the_heavy_libraries_load(tmp_path):
    bad = write(tmp_path / "bad.yaml", "fields: {}\nidentifying_fields: []\nsources: {items: []}\n"
                "linkage: {blocking: [], comparisons: [], thresold: 1}\n")
    res = subprocess.run([sys.executable, "-c", PROBE, "run", "--extracts", str(tmp_path), "--out",
                          str(tmp_path / "out"), "--config", str(bad)], capture_output=True, text=True, timeout=60,
                         cwd=ROOT)
    got = json.loads(res.stdout.strip().splitlines()[-1])
    assert got["code"] == 2 and "linkage.thresold: unknown key" in res.stderr
    assert got["loaded"] == []

"""How many pytest-xdist workers ``-n auto`` starts: one per core for the suite, none for one test file."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from conftest import pytest_xdist_auto_num_workers


@pytest.mark.parametrize("args", [["tests/engine/test_levels.py"], ["tests/engine/test_levels.py::test_a"],
                                  ["tests/engine/test_levels.py::test_a", "tests/engine/test_levels.py::test_b"]])
def test_one_test_file_runs_in_this_process(args):
    assert pytest_xdist_auto_num_workers(SimpleNamespace(args=args)) == 0


@pytest.mark.parametrize("args", [["tests"], ["tests/flows"], ["tests/engine/test_levels.py", "tests/engine/test_cluster.py"]])
def test_the_suite_a_folder_or_several_files_get_xdists_own_count(args):
    assert pytest_xdist_auto_num_workers(SimpleNamespace(args=args)) is None


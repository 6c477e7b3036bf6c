"""The blocking stress benchmark (benchmarks/bench_blocking_stress.py) on a small population: every error type is
measured, the default rules meet the bar, and the rules before key transforms do not on names swapped."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))

import bench_blocking_stress as bs  # noqa: E402

from pace_linkage.config import load_config  # noqa: E402
from synthetic import stress  # noqa: E402


def test_truth_pairs_are_every_pair_sharing_a_person_once():
    left, right = bs.truth_pairs(np.array([3, 1, 3, 2, 3, 1]))
    assert sorted(zip(left.tolist(), right.tolist(), strict=True)) == [(0, 2), (0, 4), (1, 5), (2, 4)]


def test_the_default_rules_meet_the_bar_on_every_error_type(capsys):
    generate = importlib.import_module("synthetic.generate")
    _, _, settings = generate.setup(300, None, "default")
    population, _ = generate.population_and_employers(300, 11, settings)
    people = stress.people_frame(population)
    latest = np.datetime64(settings.reference_date, "D")
    assert bs.run_single(people, load_config(None), 11, latest)
    rows = {line.split()[0]: line.split() for line in capsys.readouterr().out.splitlines() if line.strip()}
    assert set(stress.ERROR_TYPES) <= set(rows)
    assert float(rows["name_swap"][2]) < bs.BAR_COMPLETENESS <= float(rows["name_swap"][3])  # before < bar <= now

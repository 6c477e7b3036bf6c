"""First name and surname crossed: exact or with slips, and weighed by how common the name is."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pace_linkage.engine.compare import compare
from pace_linkage.engine.model import ComparisonParams, FSModel
from pace_linkage.engine.score import score
from pace_linkage.engine.settings import ComparisonSpec, LevelSpec


def two_by_two(**cols) -> pd.DataFrame:
    return pd.DataFrame({k: [x for pair in v for x in pair] for k, v in cols.items()})


def pairs_of(n: int) -> pd.DataFrame:
    return pd.DataFrame({"l": np.arange(0, n, 2, dtype=np.int32), "r": np.arange(1, n, 2, dtype=np.int32)})


FIRST = ComparisonSpec(name="first_name", column="first_name", levels=[
    LevelSpec(type="exact", tf=True),
    LevelSpec(type="swapped", other="surname", tf=True),
    LevelSpec(type="jaro_winkler", threshold=0.92),
    LevelSpec(type="swapped", other="surname", threshold=0.88),
])


def test_swapped_with_slips_holds_when_both_crossed_names_are_alike():
    rec = two_by_two(
        first_name=[("MIA", "ADAMS"), ("ADAMS", "MIA"), ("MAX", "ALEXANNDER"), ("MAX", "ALEXANDER"),
                    ("ANNA", "BROWN"), ("MIA", None)],
        surname=[("ADAMS", "MIA"), ("MI", "ADAMS"), ("ALEXANDER", "MAX"), ("ALEXANDER", "ZED"),
                 ("BROWN", "ANNA"), ("ADAMS", "MIA")],
    )
    g = compare(rec, pairs_of(len(rec)), [FIRST])["first_name"].tolist()
    # exact cross; a cross with a dropped letter; a cross with a doubled letter; one name crossed only (else);
    # exact cross; a null
    assert g == [1, 3, 3, 4, 1, -1]


def test_a_swap_of_a_common_name_weighs_less_than_a_swap_of_a_rare_one():
    rec = pd.DataFrame({
        "first_name": ["JOHN"] * 20 + ["SMITH", "QUILLAN", "FERGUS"],
        "surname": ["SMITH"] * 20 + ["JOHN", "FERGUS", "QUILLAN"],
    })
    pairs = pd.DataFrame({"l": np.array([0, 21], dtype=np.int32), "r": np.array([20, 22], dtype=np.int32)})
    gamma = compare(rec, pairs, [FIRST])
    assert gamma["first_name"].tolist() == [1, 1]
    params = ComparisonParams(name="first_name", labels=["exact", "swapped", "jw", "swapped slips", "else"],
                              m=np.array([0.9, 0.02, 0.03, 0.01, 0.04]),
                              u=np.array([0.01, 1e-6, 0.01, 1e-6, 0.979]),
                              tf_levels={0: "first_name", 1: "first_name"})
    model = FSModel(comparisons=[params], lambda_=1e-3, tf_floor=1e-6)
    bf = score(model, rec, pairs, gamma)["bf_first_name"].to_numpy()
    assert bf[1] > bf[0]  # QUILLAN (1 of 23 first names) against JOHN (20 of 23)
    # the common name's swap is weighed by its frequency, not by how rarely random pairs are crossed
    assert bf[0] == pytest.approx(np.log2(0.02 / (20 / 23)))

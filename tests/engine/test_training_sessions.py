"""Training sessions: a broad, household-like rule collapses EM and is dropped; training rules apart from the
prediction rules; the prior from deterministic rules with a stated recall."""

from __future__ import annotations

import json
import logging

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from pace_linkage.engine.blocking import block, rule_pairs
from pace_linkage.engine.columns import ColumnCache
from pace_linkage.engine.compare import compare
from pace_linkage.engine.model import FSModel
from pace_linkage.engine.sessions import collapse_reason, count_patterns
from pace_linkage.engine.settings import (
    BlockingRule,
    ComparisonSpec,
    EMSettings,
    LevelSpec,
    LinkageSettings,
    PriorRules,
)
from pace_linkage.engine.training import total_pairs, train
from pace_linkage.errors import LinkageError

HOUSEHOLD = BlockingRule(name="household", on=["surname", "postcode"])
DOB = BlockingRule(name="dob", on=["dob"])
NAMES = BlockingRule(name="names", on=["first_name", "surname"])


def households(n: int = 300, seed: int = 1) -> tuple[pd.DataFrame, np.ndarray]:
    """Households of 3-6 people sharing a surname, a postcode and a phone (as families do), each person with 1-2
    records, a tenth of them with a slip in the first name. Returns (records, person per record)."""
    rng = np.random.default_rng(seed)
    size = rng.integers(3, 7, n)
    hh = np.repeat(np.arange(n), size)  # per person
    n_people = len(hh)
    copies = rng.integers(1, 3, n_people)
    person = np.repeat(np.arange(n_people), copies)  # per record
    first = np.array([f"F{i:03d}" for i in rng.integers(0, 300, n_people)], dtype=object)[person]
    slip = rng.random(len(person)) < 0.1
    first[slip] = np.array([f[:-1] + "X" for f in first[slip]], dtype=object)
    dob = (pd.Timestamp("1950-01-01") + pd.to_timedelta(rng.integers(0, 25_000, n_people), unit="D"))
    rec = pd.DataFrame({
        "source": "a", "record_id": [f"{i:06d}" for i in range(len(person))], "first_name": first,
        "surname": np.array([f"S{i:03d}" for i in rng.integers(0, 250, n)], dtype=object)[hh][person],
        "dob": np.asarray(dob.strftime("%Y-%m-%d"), dtype=object)[person],
        "postcode": np.array([f"P{i:04d}" for i in range(n)], dtype=object)[hh][person],
        "phone": np.array([f"0141{i:06d}" for i in range(n)], dtype=object)[hh][person],
        "sex": np.array(["M", "F"], dtype=object)[rng.integers(0, 2, n_people)][person],
    })
    return rec, person


def comparisons() -> list[ComparisonSpec]:
    return [
        ComparisonSpec(name="first_name", column="first_name",
                       levels=[LevelSpec(type="exact"), LevelSpec(type="jaro_winkler", threshold=0.8)]),
        ComparisonSpec(name="surname", column="surname", levels=[LevelSpec(type="exact")]),
        ComparisonSpec(name="dob", column="dob",
                       levels=[LevelSpec(type="exact"), LevelSpec(type="date_diff", threshold=366)]),
        ComparisonSpec(name="postcode", column="postcode", levels=[LevelSpec(type="exact")]),
        ComparisonSpec(name="phone", column="phone", levels=[LevelSpec(type="exact")]),
        ComparisonSpec(name="sex", column="sex", levels=[LevelSpec(type="exact")]),
    ]


def linkage(rules, **em) -> LinkageSettings:
    return LinkageSettings(blocking=rules, comparisons=comparisons(), em=EMSettings(u_sample_pairs=20_000, **em))


def trained(rec: pd.DataFrame, s: LinkageSettings) -> FSModel:
    pairs = block(rec, s.blocking, s.link_type).pairs
    return train(rec, s, seed=5, pairs=pairs, gamma=compare(rec, pairs, s.comparisons))


def session(model: FSModel, name: str) -> dict:
    return next(x for x in model.info["sessions"] if x["rule"] == name)


@pytest.fixture(scope="module")
def homes():
    return households()


def test_household_rule_collapses_without_the_checks(homes):
    """Today's behaviour (checks off): the household session puts nearly every pair in the match class, and its
    m(first name exact) -- the share of family pairs agreeing on it -- drags the model's down."""
    rec, person = homes
    s = linkage([HOUSEHOLD, DOB, NAMES], min_class_pairs=0, check_m_above_u=False)
    model = trained(rec, s)
    hh = session(model, "household")
    pairs = block(rec, [HOUSEHOLD]).pairs
    true_share = float((person[pairs["l"]] == person[pairs["r"]]).mean())
    assert true_share < 0.3 and hh["lambda"] > 0.999 and hh["kept"]
    assert hh["m"]["first_name"][0] < 0.3
    assert model.params("first_name").m[0] < 0.65


def test_household_rule_is_dropped_with_a_warning_naming_it(homes, caplog):
    rec, _ = homes
    with caplog.at_level(logging.WARNING, logger="pace_linkage"):
        model = trained(rec, linkage([HOUSEHOLD, DOB, NAMES]))
    hh = session(model, "household")
    assert not hh["kept"] and "lambda" in hh["reason"] and hh["lambda"] > 0.999
    assert session(model, "dob")["kept"] and session(model, "names")["kept"]
    assert [w for w in model.info["warnings"] if "'household'" in w] and "'household'" in caplog.text
    assert model.params("first_name").m[0] > 0.75  # from the dob session only
    assert model.params("dob").m[0] > 0.8  # from the names session only
    saved = json.loads(model.to_json())["info"]["sessions"]  # every session's lambda and m in model.json
    assert {x["rule"] for x in saved} == {"household", "dob", "names"}
    assert all("lambda" in x and "m" in x for x in saved)
    assert not any("F0" in w or "S0" in w for w in model.info["warnings"])  # names and figures, no value


def test_training_sessions_apart_from_the_prediction_rules(homes):
    """With em.sessions the household prediction rule trains nothing; each session blocks all the records."""
    rec, _ = homes
    model = trained(rec, linkage([HOUSEHOLD], sessions=[DOB, NAMES]))
    assert [x["rule"] for x in model.info["sessions"]] == ["dob", "names"]
    assert all(x["source"] == "records" and x["kept"] for x in model.info["sessions"])
    assert session(model, "dob")["pairs"] == len(block(rec, [DOB]).pairs)
    assert model.params("first_name").m[0] > 0.75 and model.params("dob").m[0] > 0.8


def test_sessions_equal_to_the_blocking_rules_train_the_default_model(homes):
    """Sessions on the blocking rules' own pairs are the candidates satisfying them: the same model."""
    rec, _ = homes
    default = trained(rec, linkage([DOB, NAMES]))
    own = trained(rec, linkage([DOB, NAMES], sessions=[DOB, NAMES]))
    for a, b in zip(default.comparisons, own.comparisons, strict=True):
        np.testing.assert_array_equal(a.m, b.m)
        np.testing.assert_array_equal(a.u, b.u)
    assert default.lambda_ == own.lambda_


@settings(max_examples=15, deadline=None)
@given(chunk=st.integers(1, 400))
def test_pattern_counts_do_not_depend_on_the_chunk(chunk):
    rec, _ = households(n=20, seed=2)
    l_, r_ = rule_pairs(rec, HOUSEHOLD)
    cache = ColumnCache(rec)
    G1, c1 = count_patterns(rec, l_, r_, comparisons(), cache, chunk)
    G2, c2 = count_patterns(rec, l_, r_, comparisons(), cache, 10**6)
    np.testing.assert_array_equal(G1, G2)
    np.testing.assert_array_equal(c1, c2)
    assert c1.sum() == len(l_)


def test_m_below_u_on_the_first_level_is_a_collapse():
    comps = comparisons()
    u = [np.array([0.01, 0.1, 0.89]), np.array([0.5, 0.5])]
    m = [np.array([0.9, 0.05, 0.05]), np.array([0.3, 0.7])]
    seen = [np.array([5.0, 1, 1]), np.array([3.0, 4])]
    em = EMSettings()
    pair = [comps[0], comps[5]]
    reason = collapse_reason(0.5, 100, m, u, seen, [0, 1], pair, em)
    assert reason is not None and "'sex'" in reason and "below its u" in reason
    assert collapse_reason(0.5, 100, m, u, [seen[0], np.array([0.0, 7])], [0, 1], pair, em) is None  # unseen
    assert collapse_reason(0.5, 100, m, u, seen, [0, 1], pair, EMSettings(check_m_above_u=False)) is None
    assert "expected match pairs" in collapse_reason(0.001, 100, m, u, seen, [0], pair, em)
    assert "expected non-match pairs" in collapse_reason(0.9995, 100, m, u, seen, [0], pair, em)
    assert collapse_reason(0.9995, 10_000, m, u, seen, [0], pair, em) is None  # 5 non-matches: a pure block
    assert collapse_reason(0.9995, 100, m, u, seen, [0], pair, EMSettings(min_class_pairs=0)) is None


def test_prior_from_deterministic_rules_with_a_stated_recall(homes):
    rec, _ = homes
    exact = BlockingRule(name="exact", on=["first_name", "surname", "dob"])
    model = trained(rec, linkage([DOB, NAMES], prior_rules=PriorRules(rules=[exact], recall=0.8)))
    found = len(block(rec, [exact]).pairs)
    assert model.lambda_ == pytest.approx(found / 0.8 / total_pairs(rec, "link_and_dedupe"), rel=1e-12)
    assert model.info["prior_source"] == "rules" and model.info["prior_rule_pairs"] == found
    assert trained(rec, linkage([DOB, NAMES])).info["prior_source"] == "em"


def test_prior_settings_refuse_contradictions(homes):
    with pytest.raises(ValidationError, match="not both"):
        EMSettings(prior=0.001, prior_rules=PriorRules(rules=[DOB], recall=0.9))
    with pytest.raises(ValidationError):
        PriorRules(rules=[DOB], recall=0)
    rec, _ = homes
    nothing = BlockingRule(name="nothing", on=["record_id"])  # no two records share one: no pair found
    with pytest.raises(LinkageError, match="prior_rules"):
        trained(rec, linkage([DOB], prior_rules=PriorRules(rules=[nothing], recall=0.9)))


def test_a_comparison_null_throughout_a_session_is_not_estimated_by_it(homes):
    rec = homes[0].copy()
    phone_only = rec.index % 2 == 1  # half the records come from a source that holds a phone and no birth date
    rec.loc[phone_only, "dob"] = None
    rec.loc[~phone_only, "phone"] = None
    s = linkage([DOB, BlockingRule(name="phone", on=["phone"])])
    model = trained(rec, s)
    on_phone = session(model, "phone")
    # every phone pair lacks a birth date: the session gives no m for it (it would be its starting guess)
    assert "dob" not in on_phone["estimated"] and "dob" not in on_phone["m"]
    assert "first_name" in on_phone["estimated"]

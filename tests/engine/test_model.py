"""Fellegi-Sunter model: u from random pairs, EM, smoothing, TF adjustment, scoring, serialisation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pace_linkage.engine.blocking import block
from pace_linkage.engine.compare import compare
from pace_linkage.engine.em import run_em
from pace_linkage.engine.model import FSModel
from pace_linkage.engine.score import explain, score
from pace_linkage.engine.settings import BlockingRule, ComparisonSpec, EMSettings, LevelSpec, LinkageSettings
from pace_linkage.engine.training import sample_random_pairs, total_pairs, train
from pace_linkage.errors import LinkageError

SURNAMES = np.array(["SMITH", "BROWN", "WILSON", "CAMPBELL", "STEWART", "THOMSON", "ROBERTSON", "ANDERSON",
                     "MACDONALD", "SCOTT", "REID", "MURRAY", "TAYLOR", "CLARK", "ROSS", "WATSON", "QUIRKE"])
FIRST = np.array(["JAMES", "JOHN", "ROBERT", "DAVID", "MARY", "ANNE", "ELAINE", "MORAG", "ISLA", "EWAN", "KIRSTY"])


def people_frame(n_people: int = 600, seed: int = 3) -> tuple[pd.DataFrame, np.ndarray]:
    """Two records per person (second with small changes), one source, normalised columns."""
    rng = np.random.default_rng(seed)
    sur = rng.choice(SURNAMES, n_people, p=np.r_[[0.3], np.full(len(SURNAMES) - 1, 0.7 / (len(SURNAMES) - 1))])
    first = rng.choice(FIRST, n_people)
    dob = (pd.Timestamp("1960-01-01") + pd.to_timedelta(rng.integers(0, 15000, n_people), unit="D")).strftime("%Y-%m-%d")
    pc = np.array([f"G{i % 40} {i % 7}AB" for i in rng.integers(0, 10_000, n_people)], dtype=object)
    person = np.repeat(np.arange(n_people), 2)
    rec = pd.DataFrame({"source": "a", "record_id": [f"{i:05d}" for i in range(2 * n_people)],
                        "surname": sur[person], "first_name": first[person], "dob": np.asarray(dob)[person],
                        "postcode": pc[person]})
    second = np.arange(1, 2 * n_people, 2)
    moved = second[rng.random(n_people) < 0.3]
    rec.loc[moved, "postcode"] = rng.choice(pc, len(moved))
    typo = second[rng.random(n_people) < 0.2]
    rec.loc[typo, "first_name"] = rec.loc[typo, "first_name"].str.slice(0, -1) + "X"
    return rec, person


def settings_for_frame(**em) -> LinkageSettings:
    return LinkageSettings(
        blocking=[BlockingRule(name="dob", on=["dob"]), BlockingRule(name="surname", on=["surname"])],
        comparisons=[
            ComparisonSpec(name="surname", column="surname", levels=[LevelSpec(type="exact", tf=True)]),
            ComparisonSpec(name="first_name", column="first_name",
                           levels=[LevelSpec(type="exact"), LevelSpec(type="jaro_winkler", threshold=0.8)]),
            ComparisonSpec(name="dob", column="dob", levels=[LevelSpec(type="exact"), LevelSpec(type="date_swap")]),
            ComparisonSpec(name="postcode", column="postcode", levels=[LevelSpec(type="exact")]),
        ],
        em=EMSettings(u_sample_pairs=20_000, **em),
    )


@pytest.fixture(scope="module")
def trained():
    rec, person = people_frame()
    s = settings_for_frame()
    pairs = block(rec, s.blocking).pairs
    gamma = compare(rec, pairs, s.comparisons)
    model = train(rec, s, seed=7, pairs=pairs, gamma=gamma)
    return rec, person, s, pairs, gamma, model


def test_random_pairs_are_distinct_ordered_seeded_and_respect_link_type():
    rec = pd.DataFrame({"source": ["a"] * 30 + ["b"] * 20, "record_id": [str(i) for i in range(50)]})
    p1 = sample_random_pairs(rec, 5000, "link_only", seed=1)
    p2 = sample_random_pairs(rec, 5000, "link_only", seed=1)
    assert p1.equals(p2) and (p1["l"] < p1["r"]).all()
    src = rec["source"].to_numpy()
    assert (src[p1["l"]] != src[p1["r"]]).all()
    d = sample_random_pairs(rec, 5000, "dedupe_only", seed=1)
    assert (src[d["l"]] == src[d["r"]]).all() and (d["l"] < d["r"]).all()
    assert total_pairs(rec, "link_only") == 600 and total_pairs(rec, "dedupe_only") == 435 + 190


def test_em_recovers_known_m_u_and_lambda_from_simulated_patterns():
    rng = np.random.default_rng(0)
    m_true = [np.array([0.9, 0.1]), np.array([0.8, 0.15, 0.05]), np.array([0.85, 0.15])]
    u_true = [np.array([0.05, 0.95]), np.array([0.02, 0.08, 0.9]), np.array([0.1, 0.9])]
    n, lam = 200_000, 0.2
    match = rng.random(n) < lam
    G = np.column_stack([np.where(match, rng.choice(len(m), n, p=m), rng.choice(len(u), n, p=u))
                         for m, u in zip(m_true, u_true, strict=True)])
    uniq, counts = np.unique(G, axis=0, return_counts=True)
    m0 = [np.full(len(m), 1 / len(m)) + np.eye(len(m))[0] for m in m_true]
    m0 = [x / x.sum() for x in m0]
    u0 = [np.full(len(u), 1 / len(u)) for u in u_true]
    m, u, lam_hat, _ = run_em(uniq, counts.astype(float), m0, u0, 0.5, [False] * 3, False, False, 500, 1e-8)
    assert lam_hat == pytest.approx(lam, abs=0.01)
    for k in range(3):
        assert np.abs(m[k] - m_true[k]).max() < 0.02 and np.abs(u[k] - u_true[k]).max() < 0.02


def test_trained_model_has_no_zero_probabilities_and_sensible_weights(trained):
    *_, model = trained
    for c in model.comparisons:
        assert (c.m > 0).all() and (c.u > 0).all()
        assert np.isclose(c.u.sum(), 1.0)
    assert model.params("dob").weights()[0] > 5  # exact dob is strong evidence
    assert model.params("postcode").weights()[-1] < 0  # disagreeing postcode counts against
    assert 0 < model.lambda_ < 0.01


def test_level_never_observed_gets_a_neutral_weight(trained):
    *_, model = trained
    assert model.params("dob").weights()[1] == pytest.approx(0.0)  # no day/month swaps in the data
    assert 1 in model.info["unobserved_levels"]["dob"]


def test_expected_match_count_is_close_to_the_truth(trained):
    rec, person, *_ , model = trained
    assert model.info["expected_matches"] == pytest.approx(len(rec) / 2, rel=0.1)


def test_tf_adjustment_rewards_a_rare_surname_more_than_a_common_one(trained):
    rec, person, s, pairs, gamma, model = trained
    sc = score(model, rec, pairs, gamma)
    sur = rec["surname"].to_numpy()
    at_exact = gamma["surname"].to_numpy() == 0
    smith = sc.loc[at_exact & (sur[pairs["l"]] == "SMITH"), "bf_surname"]
    rare = sc.loc[at_exact & (sur[pairs["l"]] == "QUIRKE"), "bf_surname"]
    assert len(smith) and len(rare) and rare.min() > smith.max()


def test_score_weights_add_up_and_probability_matches_weight(trained):
    rec, person, s, pairs, gamma, model = trained
    sc = score(model, rec, pairs, gamma)
    bf = sc[[c for c in sc.columns if c.startswith("bf_")]].sum(axis=1)
    assert np.allclose(bf + model.prior_weight, sc["match_weight"])
    assert np.allclose(sc["match_probability"], 2 ** sc["match_weight"] / (1 + 2 ** sc["match_weight"]))
    is_true = person[sc["l"]] == person[sc["r"]]
    assert (sc["match_probability"][is_true] > 0.5).mean() > 0.95
    assert (sc["match_probability"][~is_true] < 0.5).mean() > 0.99


def test_explain_waterfall_sums_to_the_match_weight_and_holds_no_values(trained):
    rec, person, s, pairs, gamma, model = trained
    sc = score(model, rec, pairs, gamma)
    rows = explain(model, rec, pairs, gamma, 5)
    assert sum(r["weight"] for r in rows) == pytest.approx(sc["match_weight"].iloc[5])
    text = repr(rows)
    values = set(rec.iloc[[pairs["l"].iloc[5], pairs["r"].iloc[5]]][["surname", "first_name", "dob", "postcode"]]
                 .to_numpy().ravel())
    assert not any(v in text for v in values)


def test_reloaded_model_scores_identically_and_file_has_no_raw_values(trained, tmp_path):
    rec, person, s, pairs, gamma, model = trained
    path = tmp_path / "model.json"
    model.save(path)
    again = FSModel.load(path)
    assert again.to_json() == model.to_json()
    pd.testing.assert_frame_equal(score(again, rec, pairs, gamma), score(model, rec, pairs, gamma))
    text = path.read_text()
    assert "SMITH" not in text and "QUIRKE" not in text


def test_training_is_deterministic_for_a_seed(trained):
    rec, person, s, pairs, gamma, model = trained
    assert train(rec, s, seed=7, pairs=pairs, gamma=gamma).to_json() == model.to_json()


def test_candidates_method_also_separates_matches(trained):
    rec, person, s, pairs, gamma, _ = trained
    model = train(rec, s, seed=7, pairs=pairs, gamma=gamma, method="candidates")
    sc = score(model, rec, pairs, gamma)
    is_true = person[sc["l"]] == person[sc["r"]]
    assert (sc["match_probability"][is_true] > 0.5).mean() > 0.9


def test_supervised_training_estimates_m_and_u_from_labels(trained):
    rec, person, s, pairs, gamma, _ = trained
    labels = person[pairs["l"]] == person[pairs["r"]]
    model = train(rec, s, pairs=pairs, gamma=gamma, labels=labels, training="supervised")
    assert model.lambda_ == pytest.approx(labels.mean())
    dob = model.params("dob")
    assert dob.m[0] > 0.95 and dob.u[0] < 0.5
    assert model.params("surname").tf_levels == {0: "surname"}
    with pytest.raises(LinkageError):
        train(rec, s, pairs=pairs, gamma=gamma, labels=np.ones(len(gamma), bool), training="supervised")


def test_malformed_model_json_raises_a_linkage_error():
    with pytest.raises(LinkageError):
        FSModel.from_json('{"format": "something else"}')


def test_pair_labels_come_from_truth_and_absent_records_match_nothing():
    from pace_linkage.engine.training import pair_labels

    recs = pd.DataFrame({"source": ["a", "a", "b", "b"], "record_id": ["1", "2", "1", "9"]})
    truth = pd.DataFrame({"source": ["a", "a", "b"], "record_id": ["1", "2", "1"], "person_id": ["p", "q", "p"]})
    pairs = pd.DataFrame({"l": [0, 0, 1, 2], "r": [1, 2, 3, 3]})
    assert pair_labels(recs, pairs, truth).tolist() == [False, True, False, False]

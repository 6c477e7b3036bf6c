"""The label-free estimate of the matches blocking never compared (pace_linkage.evaluate.missed)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from pace_linkage.counting import pairs_within_groups
from pace_linkage.engine.blocking import block
from pace_linkage.engine.settings import BlockingKey, BlockingRule
from pace_linkage.evaluate import missed, unseen
from pace_linkage.evaluate.quality import estimated_quality, pairwise_scores
from pace_linkage.schema import LEFT, RECORD_ID, RIGHT, SOURCE


def rule(name, *on, window=None):
    return BlockingRule(name=name, on=list(on), window=window)


def test_looser_keys_drop_one_column_once_each():
    rules = [rule("n", "nino"), rule("ds", "dob", "surname"), rule("df", "dob", "first"),
             rule("w", "surname", "first", window=3), rule("sd", "surname", "dob", "first")]
    keys = missed.looser_keys(rules)
    names = [k.name for k in keys]
    # single-column and window rules give none; 'dob' appears once; a key equal to a rule is left out
    assert names == ["surname", "dob", "first", "dob+first"] or names == ["surname", "dob", "first", "surname+first"]
    assert all(len(k.on) >= 1 for k in keys)
    assert len(set(tuple(sorted(k.on)) for k in keys)) == len(keys)


def test_looser_keys_of_transformed_parts():
    year = BlockingKey(transform="year", column="dob")
    names = BlockingKey(transform="set", columns=["first", "surname"])
    keys = missed.looser_keys([rule("names_year", names, year), rule("names_area", names, "area")])
    assert [k.name for k in keys] == ["year(dob)", "set(first,surname)", "area"]
    rec = pd.DataFrame({"first": ["Ann", "Lee", "Ann"], "surname": ["Lee", "Ann", "Lee"],
                        "dob": pd.to_datetime(["1980-01-02", "1980-05-06", None])})
    code = unseen.parts_key(rec, keys[1].on)
    assert code[0] == code[1] == code[2]  # names in either order agree
    assert unseen.parts_key(rec, keys[0].on)[2] == -1  # a null date has no key


@settings(max_examples=40, deadline=None)
@given(st.lists(st.one_of(st.none(), st.integers(0, 4)), min_size=0, max_size=40), st.integers(0, 2**16))
def test_sampled_pairs_share_the_key(values, seed):
    key = np.array([-1 if v is None else v for v in values], dtype=np.int64)
    left, right, total = missed.sample_key_pairs(key, 50, np.random.default_rng(seed))
    sizes = np.bincount(key[key >= 0]) if (key >= 0).any() else np.array([], dtype=np.int64)
    assert total == pairs_within_groups(sizes)
    assert len(left) == (50 if total else 0)
    assert (left != right).all() and (key[left] == key[right]).all() and (key[left] >= 0).all()
    again = missed.sample_key_pairs(key, 50, np.random.default_rng(seed))
    assert (again[0] == left).all() and (again[1] == right).all()  # seeded: the same draw


def people(n_people: int, seed: int = 0, exclusive: bool = True) -> tuple[pd.DataFrame, np.ndarray]:
    """Two records per person over two sources; a share of the second records has a wrong dob or surname
    (never both when ``exclusive``, else each independently of the other)."""
    rng = np.random.default_rng(seed)
    pid = np.repeat(np.arange(n_people), 2)
    dob = rng.integers(0, 400, n_people)[pid].astype(object)
    sur = rng.integers(0, 300, n_people)[pid].astype(object)
    second = np.arange(len(pid)) % 2 == 1
    bad_dob = second & (rng.random(len(pid)) < 0.2)
    bad_sur = second & (rng.random(len(pid)) < 0.2)
    if exclusive:
        bad_sur &= ~bad_dob
    dob[bad_dob] = 1000 + np.flatnonzero(bad_dob)
    sur[bad_sur] = 1000 + np.flatnonzero(bad_sur)
    rec = pd.DataFrame({SOURCE: np.where(second, "b", "a"), RECORD_ID: [str(i) for i in range(len(pid))],
                        "dob": dob.astype(str), "surname": sur.astype(str)})
    return rec, pid


def oracle(person):
    """A perfectly calibrated model: probability 1 for a true pair, 0 otherwise."""
    return lambda left, right: (person[left] == person[right]).astype(float)


def view_of(rec, pid, rules):
    pairs = block(rec, rules, "link_and_dedupe", 10**7).pairs
    # clusters: the candidate pairs that truly match, joined (a model that links every true candidate)
    true = pid[pairs[LEFT].to_numpy()] == pid[pairs[RIGHT].to_numpy()]
    cluster = np.arange(len(rec))
    cluster[pairs[RIGHT].to_numpy()[true]] = pairs[LEFT].to_numpy()[true]
    prob = true.astype(float)
    return missed.RunView(rec, pairs, prob, cluster, "link_and_dedupe", np.zeros(len(rec), bool)), prob


def test_missed_matches_counted_exactly_when_every_looser_pair_is_scored():
    rec, pid = people(300)
    rules = [rule("dob_surname", "dob", "surname")]
    view, prob = view_of(rec, pid, rules)
    est = missed.label_free_recall(view, oracle(pid), missed.looser_keys(rules), sample_pairs=10**6, seed=1,
                                   max_pairs_ratio=1000)
    truth = pairwise_scores(view.cluster, pid)
    assert truth["recall"] < 0.75  # blocking on both columns misses the records with either one wrong
    assert estimated_quality(prob, 0.5)["recall"] == 1.0  # blind to them, as before
    assert est["missed_on_looser_keys"] == truth["fn"]  # every missed match agrees on dob or on surname
    assert est["missed_by_blocking"] == est["missed_on_looser_keys"] + est["missed_on_no_key"]
    assert est["recall_low"] <= truth["recall"] <= est["recall_high"]


def test_sampled_estimate_is_near_the_truth_and_its_interval_holds_it():
    rec, pid = people(2000, seed=3, exclusive=False)
    rules = [rule("dob_surname", "dob", "surname")]
    view, _ = view_of(rec, pid, rules)
    est = missed.label_free_recall(view, oracle(pid), missed.looser_keys(rules), sample_pairs=10000, seed=7,
                                   max_pairs_ratio=1000)
    truth = pairwise_scores(view.cluster, pid)
    assert all(not k["exact"] for k in est["looser_keys"])  # each key has more pairs than drawn
    # a third of the matches were never compared; the estimate of them is unbiased, its sampling error wide
    assert abs(est["recall"] - truth["recall"]) < 0.03
    assert est["recall_low"] <= truth["recall"] <= est["recall_high"]
    assert est["missed_by_blocking_low"] <= truth["fn"] <= est["missed_by_blocking_high"]
    again = missed.label_free_recall(view, oracle(pid), missed.looser_keys(rules), sample_pairs=10000, seed=7,
                                     max_pairs_ratio=1000)
    assert again == est  # deterministic for a seed


def test_matches_agreeing_on_no_key_are_extrapolated():
    rec, pid = people(3000, seed=5, exclusive=False)  # errors independent: some records have both wrong
    rules = [rule("dob_surname", "dob", "surname")]
    view, _ = view_of(rec, pid, rules)
    est = missed.label_free_recall(view, oracle(pid), missed.looser_keys(rules), sample_pairs=10**6, seed=1,
                                   max_pairs_ratio=1000, rules=rules, fields=["dob", "surname"])
    both_wrong = int(((rec["dob"].str.len() >= 4) & (rec["surname"].str.len() >= 4)).sum())  # 1000 + position
    assert both_wrong > 50
    assert abs(est["missed_on_no_key"] - both_wrong) < 0.25 * both_wrong
    truth = pairwise_scores(view.cluster, pid)
    assert abs(est["recall"] - truth["recall"]) < 0.01
    assert est["recall_low"] <= truth["recall"] <= est["recall_high"]


def test_pairs_the_run_could_not_link_are_not_counted():
    rec, pid = people(200)
    rules = [rule("dob_surname", "dob", "surname")]
    view, _ = view_of(rec, pid, rules)
    view.link_type = "dedupe_only"  # every true pair here is across sources: none could be linked
    est = missed.estimate_missed(view, oracle(pid), missed.looser_keys(rules), sample_pairs=10**6, seed=1,
                                 max_pairs_ratio=1000)
    assert est["matches"] == 0


def test_a_key_with_too_many_pairs_is_skipped_not_sampled():
    rec, pid = people(200)
    rec["one"] = "x"  # a key every record shares
    rules = [rule("one_dob", "one", "dob")]
    view, _ = view_of(rec, pid, rules)
    est = missed.estimate_missed(view, oracle(pid), missed.looser_keys(rules), sample_pairs=100, seed=1,
                                 max_pairs_ratio=5)
    by = {k["name"]: k for k in est["keys"]}
    assert "skipped" in by["one"] and "skipped" not in by["dob"]


def test_a_pattern_is_credited_with_no_more_matches_than_its_m_allows():
    # pattern 7: 5,000 drawn pairs rated matches, yet the model expects 1e-5 of 1,000 matches to show it
    code = np.r_[np.full(5000, 7), np.full(10, 3)]
    m = np.r_[np.full(5000, 1e-5), np.full(10, 0.5)]
    factor = missed.pattern_caps(code, m, np.ones(len(code)), matches_seen=1000.0)
    assert np.isclose((factor[:5000]).sum(), missed.CAP_SLACK * 1000 * 1e-5)
    assert (factor[5000:] == 1.0).all()  # within what m allows: untouched


def test_a_rule_with_max_group_gives_its_own_key_whole_for_the_groups_it_skipped():
    names = BlockingKey(transform="set", columns=["first", "surname"])
    rules = [BlockingRule(name="names", on=[names], max_group=10), rule("email", "email"),
             BlockingRule(name="names_dob", on=[names, "dob"], max_group=5)]
    keys = missed.looser_keys(rules)
    # the names rule's key whole (it is not left out as equal to a rule: its big groups were skipped);
    # names_dob's own key whole and dob alone; the plain email rule gives none
    assert [(k.name, k.rule) for k in keys] == [("set(first,surname)", "names"), ("set(first,surname)+dob",
                                                "names_dob"), ("dob", "names_dob")]

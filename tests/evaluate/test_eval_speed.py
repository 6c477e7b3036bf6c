"""Evaluate at scale computes the same figures as the plain definitions (the faster paths are checked against
them): the threshold sweep against fresh connected components at every threshold."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace
from unittest.mock import patch

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from pace_linkage.engine.settings import BlockingKey
from pace_linkage.evaluate import metrics, unseen
from pace_linkage.evaluate.quality import pair_counts, person_codes, scores, threshold_sweep
from pace_linkage.store.outputs import parquet_bytes


def fresh_sweep_row(n, left, right, prob, person, t):
    """Pairwise quality of the connected components of the pairs with probability >= t, from scratch."""
    sel = prob >= t
    graph = coo_matrix((np.ones(int(sel.sum())), (left[sel], right[sel])), shape=(n, n))
    k, labels = connected_components(graph, directed=False)
    counts = pair_counts(labels.astype(np.int64), person)
    return {"threshold": float(t), **scores(counts), "links": int(sel.sum()), "clusters": int(k),
            "tp": counts["tp"], "fp": counts["fp"], "fn": counts["fn"]}


@st.composite
def graphs(draw):
    n = draw(st.integers(1, 40))
    m = draw(st.integers(0, 120))
    ends = st.lists(st.integers(0, n - 1), min_size=m, max_size=m)
    left, right = np.array(draw(ends), dtype=np.int64), np.array(draw(ends), dtype=np.int64)
    prob = np.array(draw(st.lists(st.sampled_from([0.0, 0.05, 0.3, 0.5, 0.51, 0.9, 0.99, 1.0, float("nan")]),
                                  min_size=m, max_size=m)), dtype=np.float64)
    people = draw(st.lists(st.integers(0, max(n // 2, 1)), min_size=n, max_size=n))
    absent = draw(st.sets(st.integers(0, n - 1), max_size=n // 3))
    thresholds = draw(st.lists(st.sampled_from([0.05, 0.3, 0.5, 0.7, 0.99, 1.0]), min_size=1, max_size=6))
    return n, left, right, prob, people, absent, thresholds


@settings(max_examples=40, deadline=None)
@given(graphs())
def test_threshold_sweep_equals_fresh_components_at_every_threshold(g):
    n, left, right, prob, people, absent, thresholds = g
    records = pd.DataFrame({"source": ["s"] * n, "record_id": [f"r{i}" for i in range(n)]})
    truth = pd.DataFrame({"source": "s", "record_id": [f"r{i}" for i in range(n) if i not in absent],
                          "person_id": [str(p) for i, p in enumerate(people) if i not in absent]})
    pairs = pd.DataFrame({"l": left, "r": right, "match_probability": prob})
    sweep = threshold_sweep(pairs, records, truth, thresholds)
    person = person_codes(records, truth)[0]
    want = [fresh_sweep_row(n, left, right, prob, person, t) for t in sorted(set(thresholds))]
    assert sweep.to_dict(orient="records") == want


PARTS = ["first", "surname", "dob", BlockingKey(transform="prefix", column="surname", length=2),
         BlockingKey(transform="soundex", column="surname"), BlockingKey(transform="year", column="dob"),
         BlockingKey(transform="set", columns=["first", "surname"]),
         BlockingKey(transform="month_day", column="dob")]


@st.composite
def record_frames(draw):
    n = draw(st.integers(0, 30))
    names = st.one_of(st.none(), st.sampled_from(["ann", "lee", "anna", "smith", "smyth", "o'neil"]))
    dates = st.one_of(st.none(), st.sampled_from(["1980-01-02", "1980-02-01", "1975-01-02", "2001-12-31"]))
    frame = pd.DataFrame({"first": draw(st.lists(names, min_size=n, max_size=n)),
                          "surname": draw(st.lists(names, min_size=n, max_size=n)),
                          "dob": draw(st.lists(dates, min_size=n, max_size=n))}, dtype=object)
    keys = draw(st.lists(st.lists(st.sampled_from(range(len(PARTS))), min_size=1, max_size=3, unique=True),
                         min_size=1, max_size=5))
    return frame, [[PARTS[i] for i in k] for k in keys]


@settings(max_examples=25, deadline=None)
@given(record_frames())
def test_key_codes_are_the_codes_of_parts_key(case):
    records, keys = case
    codes = unseen.KeyCodes(records)
    for parts in keys:  # the same parts again and again, as the estimate asks for them
        np.testing.assert_array_equal(codes(parts), unseen.parts_key(records, parts))


@st.composite
def candidate_pairs(draw):
    n = draw(st.integers(1, 25))
    texts = st.text(alphabet="ab1-é’ ", min_size=1, max_size=6)
    records = pd.DataFrame({"source": draw(st.lists(st.sampled_from(["dwp", "sds", "fife"]), min_size=n, max_size=n)),
                            "record_id": draw(st.lists(texts, min_size=n, max_size=n))}, dtype=object)
    m = draw(st.integers(0, 40))
    ends = st.lists(st.integers(0, n - 1), min_size=m, max_size=m)
    pairs = pd.DataFrame({"l": np.array(draw(ends), dtype=np.int32), "r": np.array(draw(ends), dtype=np.int32),
                          "rule": np.array(draw(st.lists(st.integers(0, 1), min_size=m, max_size=m)), dtype=np.int8)})
    gamma = pd.DataFrame({"name": np.array(draw(st.lists(st.integers(-1, 2), min_size=m, max_size=m)), dtype=np.int8)})
    weight = np.array(draw(st.lists(st.floats(-30, 30), min_size=m, max_size=m)), dtype=np.float64)
    scored = pd.DataFrame({"match_weight": weight, "match_probability": 1 / (1 + 2.0 ** -weight)})
    rules = [SimpleNamespace(name="names"), SimpleNamespace(name="nino ’")]
    return SimpleNamespace(records=records, blocking=SimpleNamespace(pairs=pairs), gamma=gamma, scored=scored,
                           cfg=SimpleNamespace(linkage=SimpleNamespace(blocking=rules)))


@settings(max_examples=20, deadline=None)
@given(candidate_pairs(), st.integers(1, 7))
def test_pairs_parquet_from_arrow_columns_is_the_same_file(run, chunk):
    with patch.object(metrics, "TAKE_CHUNK", chunk):  # several chunks as at millions of pairs
        fast = metrics.pairs_frame(run, arrow=True)
    plain = metrics.pairs_frame(run)
    assert parquet_bytes(fast) == parquet_bytes(plain)
    pd.testing.assert_frame_equal(fast.astype(object), plain.astype(object))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from([-2.5, 0.0, 1.0, 1.0, 3.25, float("nan"), float("-inf")]), max_size=30),
       st.integers(0, 8), st.integers(0, 2**16))
def test_smallest_is_the_head_of_the_full_sort(keys, n, seed):
    key = np.array(keys, dtype=np.float64)
    idx = np.sort(np.random.default_rng(seed).permutation(len(key))[: len(key) // 2 + 1])[: len(key)]
    want = idx[np.lexsort((idx, key[idx]))][:n]
    np.testing.assert_array_equal(metrics.smallest(idx, key, n), want)
    np.testing.assert_array_equal(metrics.smallest(idx, -key, n), idx[np.lexsort((idx, -key[idx]))][:n])


@settings(max_examples=40, deadline=None)
@given(st.lists(st.one_of(st.none(), st.sampled_from(["P1", "P2", "P3"])), min_size=0, max_size=20),
       st.integers(0, 2**16))
def test_cluster_codes_of_clusters_in_record_order_or_any_order_agree(ids, seed):
    from pace_linkage.evaluate import missed

    records = pd.DataFrame({"source": ["a", "b"] * (len(ids) // 2) + ["a"] * (len(ids) % 2),
                            "record_id": [str(i) for i in range(len(ids))]})
    clusters = records.assign(pace_id=ids)
    shuffled = clusters.iloc[np.random.default_rng(seed).permutation(len(ids))]
    np.testing.assert_array_equal(missed.cluster_codes(records, clusters, "pace_id"),
                                  missed.cluster_codes(records, shuffled, "pace_id"))


@settings(max_examples=40, deadline=None)
@given(st.lists(st.one_of(st.none(), st.sampled_from(["2000-02-29", "1990-06-15", "2015-01-01", "not a date", "",
                                                      "1950-12-31", "2008-06-16"])), max_size=25))
def test_age_band_of_each_distinct_date_is_the_band_of_each_record(dobs):
    from pace_linkage.evaluate.groups import age_band

    ref = dt.date(2024, 6, 15)
    series = pd.Series(dobs, dtype=object, index=np.arange(len(dobs)) * 3)
    want = [age_band(pd.Series([v], dtype=object), ref).iloc[0] for v in dobs]
    got = age_band(series, ref)
    assert list(got) == want and got.index.equals(series.index)

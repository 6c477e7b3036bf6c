"""Who gets linked less: group labels and per-group linkage rate, recall and missed links."""

from __future__ import annotations

import datetime as dt
import itertools

import numpy as np
import pandas as pd
from conftest import write

from pace_linkage.config import load_config
from pace_linkage.evaluate.groups import (
    age_band,
    council_area,
    council_table,
    group_figures,
    linked_less,
    moved,
)

REF = dt.date(2025, 3, 31)

CONFIG = """
reference_date: 2025-03-31
fields:
  surname: {kind: name}
  birth: {kind: dob}
  gender: {kind: sex}
  home: {kind: postcode}
identifying_fields: [surname, birth]
sources:
  items:
    - {name: a, file: a.csv, record_id: id, columns: {surname: Surname}}
linkage:
  blocking: [{name: s, on: [surname]}]
  comparisons: [{name: surname, column: surname, levels: [{type: exact}]}]
"""


def test_age_bands_count_completed_years_at_the_reference_date():
    dob = pd.Series(["2000-03-31", "2000-04-01", "1990-06-15", "1975-01-01", "1961-04-01", "1960-03-31",
                     "2012-05-05", None, "not a date"])
    assert age_band(dob, REF).tolist() == ["25-34", "16-24", "25-34", "50-64", "50-64", "65+", "under 16",
                                           "unknown", "unknown"]


def test_council_area_uses_the_district_then_the_area_and_flags_other_postcodes():
    pc = pd.Series(["G12 8QQ", "G84 7AA", "EH51 9AA", "KY13 8AA", "AB99 9ZZ", "SW1A 1AA", None, "TD15 1AA"])
    assert council_area(pc).tolist() == ["Glasgow City", "Argyll and Bute", "Falkirk", "Perth and Kinross",
                                         "Aberdeenshire", "outside Scotland", "unknown", "outside Scotland"]


def test_the_council_table_covers_all_32_scottish_councils():
    councils = set(council_table().values()) - {"outside Scotland"}
    assert len(councils) == 32
    assert {"Glasgow City", "Fife", "Na h-Eileanan Siar", "Orkney Islands", "Shetland Islands"} <= councils


def test_a_person_at_two_postcodes_has_moved_and_unknown_postcodes_do_not_count():
    person = np.array([0, 0, 1, 1, 2, 3])
    pc = pd.Series(["G1 1AA", "G2 2BB", "EH1 1AA", "EH1 1AA", None, None])
    pc[3] = None  # person 1: one known postcode only
    assert moved(person, pc).tolist() == ["moved", "moved", "did not move", "did not move", "unknown", "unknown"]


def brute_force(group, cluster, person):
    """Reference: enumerate every record pair (fine for a handful of records)."""
    out = {}
    for g in sorted(set(group)):
        true = found = 0
        for i, j in itertools.combinations(range(len(group)), 2):
            if (group[i] == g or group[j] == g) and person[i] == person[j]:
                true += 1
                found += int(cluster[i] == cluster[j])
        out[g] = (true, found)
    return out


def test_recall_by_group_counts_each_true_pair_once_per_group_it_touches():
    group = pd.Series(["a", "a", "a", "b", "b", "a", "b"])
    person = np.array([0, 0, 0, 1, 1, 2, 2])  # person 2 spans groups a and b
    cluster = np.array([0, 0, 1, 2, 2, 3, 4])  # person 0 split 2+1; person 2 not linked
    rows = {r["group"]: r for r in group_figures(group, cluster, np.array([], int), np.array([], int),
                                                 np.array([]), 0.9, person)}
    expected = brute_force(group.tolist(), cluster, person)
    for g, (true, found) in expected.items():
        assert (rows[g]["true_pairs"], rows[g]["found_pairs"]) == (true, found)
        assert rows[g]["missed_links"] == true - found
    assert rows["a"]["true_pairs"] == 4 and rows["a"]["found_pairs"] == 1  # 3 pairs of person 0 + person 2's
    assert rows["b"]["recall"] == 0.5
    assert rows["a"]["linkage_rate"] == 0.5 and rows["a"]["records"] == 4


def test_recall_by_group_agrees_with_pair_enumeration_on_random_data():
    rng = np.random.default_rng(5)
    n = 60
    person = rng.integers(0, 20, n)
    cluster = np.where(rng.random(n) < 0.8, person, 100 + np.arange(n))  # some records split off
    group = pd.Series(rng.choice(["x", "y", "z"], n))
    rows = {r["group"]: r for r in group_figures(group, pd.factorize(cluster)[0], np.array([], int),
                                                 np.array([], int), np.array([]), 0.5, person)}
    for g, (true, found) in brute_force(group.tolist(), cluster, person).items():
        assert (rows[g]["true_pairs"], rows[g]["found_pairs"]) == (true, found), g


def test_estimated_missed_links_credit_both_groups_once_and_ignore_linked_pairs():
    group = pd.Series(["a", "a", "b", "b"])
    left, right = np.array([0, 0, 2, 1]), np.array([1, 2, 3, 3])
    prob = np.array([0.3, 0.2, 0.95, 0.4])  # the 0.95 pair is linked: not a missed link
    rows = {r["group"]: r for r in group_figures(group, np.arange(4), left, right, prob, 0.9)}
    assert rows["a"]["estimated_missed_links"] == 0.9  # 0.3 (a-a, once) + 0.2 (a-b) + 0.4 (a-b)
    assert rows["b"]["estimated_missed_links"] == 0.6  # 0.2 + 0.4
    assert "recall" not in rows["a"]  # no truth, no recall


def test_linked_less_finds_fields_by_kind_and_adds_moved_only_with_truth(tmp_path):
    cfg = load_config(write(tmp_path / "pace.yaml", CONFIG))
    records = pd.DataFrame({
        "source": ["a", "a", "b", "b"], "record_id": ["1", "2", "1", "2"],
        "surname": ["X", "X", "Y", "Z"], "birth": ["2001-01-01", "2001-01-01", "1970-05-05", None],
        "gender": ["F", "F", None, "M"], "home": ["G1 1AA", "G2 1AA", "EH1 1AA", None]})
    clusters = pd.Series(["P1", "P1", "P2", "P3"])
    pairs = pd.DataFrame({"l": [0, 2], "r": [1, 3]})
    doc = linked_less(records, clusters, pairs, np.array([0.99, 0.5]), 0.9, cfg)
    assert list(doc) == ["partner", "sex", "age_band", "council_area"]
    assert [r["group"] for r in doc["age_band"]] == ["16-24", "50-64", "unknown"]
    assert [r["group"] for r in doc["sex"]] == ["female", "male", "unknown"]
    assert doc["partner"][0] == {"group": "a", "records": 2, "linked": 2, "linkage_rate": 1.0,
                                 "estimated_missed_links": 0.0}
    truth = pd.DataFrame({"source": ["a", "a", "b", "b"], "record_id": ["1", "2", "1", "2"],
                          "person_id": ["p", "p", "q", "q"]})
    with_truth = linked_less(records, clusters, pairs, np.array([0.99, 0.5]), 0.9, cfg, truth)
    assert [r["group"] for r in with_truth["moved"]] == ["did not move", "moved"]
    b = with_truth["partner"][1]
    assert (b["true_pairs"], b["found_pairs"], b["recall"], b["missed_links"]) == (1, 0, 0.0, 1)

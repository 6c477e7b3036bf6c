"""Incremental linkage: new-record blocking, clerical decisions in clustering, persistent pace ids across
batches (joins, merges, splits, updates, deletions), and equivalence with linking in one go."""

from __future__ import annotations

import copy
import json

import numpy as np
import pandas as pd
import pytest

import synthetic
from pace_linkage import incremental as inc
from pace_linkage.config import load_config
from pace_linkage.engine.blocking import block
from pace_linkage.engine.cluster import cluster
from pace_linkage.engine.linker import Linker
from pace_linkage.engine.settings import BlockingRule, ClusteringSettings
from pace_linkage.errors import InputError, LinkageError
from pace_linkage.evaluate.quality import pairwise_metrics
from pace_linkage.normalise import normalise_records
from pace_linkage.pipeline import read_sources

KEYS = ["source", "record_id"]
COLUMNS = ["source", "record_id", "first_name", "surname", "dob", "postcode", "nino", "sex"]


# --------------------------------------------------------------------------------------------------
# Fixtures
# --------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def cfg():
    return load_config()


@pytest.fixture(scope="module")
def synth(tmp_path_factory, cfg):
    """300 synthetic people (seed 5): normalised records, truth, and a one-go linkage of them."""
    out = tmp_path_factory.mktemp("incremental")
    synthetic.generate(people=300, seed=5, out_dir=out)
    records = read_sources(cfg, out / "extracts")
    truth = pd.read_csv(out / "truth.csv", dtype=str)
    return records, truth, Linker.from_config(cfg).run(records)


@pytest.fixture(scope="module")
def model(synth):
    """The synthetic run's model without term-frequency adjustment: in a frame of five hand-made records
    every name is frequent, which would make exact name agreement count for little."""
    fs = copy.deepcopy(synth[2].model)
    for c in fs.comparisons:
        c.tf_levels = {}
    return fs


def people(cfg, rows) -> pd.DataFrame:
    raw = pd.DataFrame(rows, columns=COLUMNS).astype(object)
    raw["line"] = range(2, len(raw) + 2)
    return normalise_records(raw, cfg.fields, today=cfg.reference_date)[0]


def decisions(*rows) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["source_l", "record_id_l", "source_r", "record_id_r", "decision"])


def keys_of(frame: pd.DataFrame) -> set[tuple[str, str]]:
    return set(zip(frame["source"], frame["record_id"], strict=True))


def pid(state: inc.State, source: str, record_id: str) -> str:
    a = state.assignments
    return a.loc[(a["source"] == source) & (a["record_id"] == record_id), "pace_id"].item()


JOHN_SDS = ("sds", "1", "John", "Smith", "1980-01-01", "EH1 1AA", None, "M")
JOHN_DWP = ("dwp", "9", "John", "Smith", None, "G1 1AA", "AB123456C", "M")  # no dob, other area: no pair
JOHN_BRIDGE = ("pension_wise", "5", "John", "Smith", "1980-01-01", "EH1 1AA", "AB123456C", "M")
MARY = [("sds", "2", "Mary", "Brown", "1975-05-05", "KY1 1AA", "CD654321A", "F"),
        ("dwp", "3", "Mary", "Brown", "1975-05-05", "KY1 1AA", "CD654321A", "F"),
        ("dwp", "4", "Mary", "Browne", "1975-05-05", "KY1 1AB", None, "F")]
ANNE = ("citizens_advice", "7", "Anne", "Wilson", "1990-09-09", "AB10 1AA", None, "F")


# --------------------------------------------------------------------------------------------------
# Blocking with a new-record mask
# --------------------------------------------------------------------------------------------------
def test_new_record_blocking_equals_full_blocking_filtered_to_pairs_touching_a_new_record():
    rng = np.random.default_rng(11)
    rules = [BlockingRule(name="k", on=["k"]), BlockingRule(name="kj", on=["k", "j"]),
             BlockingRule(name="w", on=["w"], window=3)]
    for trial in range(12):
        n = int(rng.integers(2, 300))
        rec = pd.DataFrame({
            "source": rng.choice(["a", "b", "c"], n), "record_id": [str(i) for i in range(n)],
            "k": pd.Series(rng.integers(0, 12, n).astype(str)).where(rng.random(n) > 0.1),
            "j": rng.integers(0, 3, n).astype(str), "w": rng.integers(0, 40, n).astype(str),
        })
        new = rng.random(n) < [0.0, 0.05, 0.3, 1.0][trial % 4]
        for link_type in ("link_and_dedupe", "link_only", "dedupe_only"):
            full = block(rec, rules, link_type).pairs
            touch = new[full["l"].to_numpy()] | new[full["r"].to_numpy()]
            inc_pairs = block(rec, rules, link_type, new=new).pairs
            pd.testing.assert_frame_equal(inc_pairs, full[touch].reset_index(drop=True))


def test_new_record_blocking_never_materialises_old_pairs_so_the_pair_limit_counts_new_pairs_only():
    rec = pd.DataFrame({"source": "a", "record_id": [str(i) for i in range(1000)], "k": "same"})
    new = np.zeros(1000, dtype=bool)
    new[-2:] = True
    res = block(rec, [BlockingRule(name="k", on=["k"])], max_pairs_per_rule=2000, new=new)
    assert len(res.pairs) == 998 + 998 + 1  # each new record with every other, the new pair once
    assert res.stats["pairs_generated"].tolist() == [1997]
    with pytest.raises(LinkageError, match="would generate 1997 pairs"):
        block(rec, [BlockingRule(name="k", on=["k"])], max_pairs_per_rule=1000, new=new)


# --------------------------------------------------------------------------------------------------
# Clerical decisions in clustering
# --------------------------------------------------------------------------------------------------
def small(n: int, nino=None) -> pd.DataFrame:
    return pd.DataFrame({"source": ["a"] * n, "record_id": [f"r{i}" for i in range(n)],
                         "nino": nino if nino is not None else [None] * n})


def edges(*rows) -> pd.DataFrame:
    l_, r_, w = zip(*rows, strict=True)
    w = np.asarray(w, float)
    return pd.DataFrame({"l": l_, "r": r_, "match_weight": w, "match_probability": 1 / (1 + 2.0 ** -w)})


def groups(ids: pd.Series) -> set[frozenset[int]]:
    return {frozenset(g.index.tolist()) for _, g in ids.groupby(ids)}


def test_must_link_holds_at_every_threshold_even_without_a_scored_edge():
    res = cluster(small(3), edges((0, 1, -20)), 0.9, named_thresholds={"strict": 0.99},
                  must_link=(np.array([0]), np.array([2])))
    assert groups(res.clusters["pace_id"]) == {frozenset({0, 2}), frozenset({1})}
    assert groups(res.clusters["pace_id_strict"]) == {frozenset({0, 2}), frozenset({1})}


def test_cannot_link_splits_a_component_refusing_only_the_merge_that_unites_the_pair():
    res = cluster(small(4), edges((0, 1, 12), (1, 2, 5), (2, 3, 11)), 0.9,
                  cannot_link=(np.array([0]), np.array([3])))
    assert groups(res.clusters["pace_id"]) == {frozenset({0, 1}), frozenset({2, 3})}
    assert res.conflicts["kind"].tolist() == ["cannot_link"]
    assert res.conflicts["resolution"].tolist() == ["split"]


def test_cannot_link_is_honoured_even_when_conflicts_are_only_flagged():
    res = cluster(small(3, nino=["AB123456", None, "CD654321"]), edges((0, 1, 12), (1, 2, 5)), 0.9,
                  ClusteringSettings(conflict_fields=["nino"], conflict_resolution="flag"),
                  cannot_link=(np.array([1]), np.array([2])))
    assert groups(res.clusters["pace_id"]) == {frozenset({0, 1}), frozenset({2})}
    assert sorted(res.conflicts["kind"]) == ["cannot_link", "conflicting_nino"]


def test_must_link_chain_contradicting_a_cannot_link_is_reported_and_the_cannot_link_wins():
    res = cluster(small(3), edges((0, 1, -20)), 0.9, must_link=(np.array([0, 1]), np.array([1, 2])),
                  cannot_link=(np.array([0]), np.array([2])))
    assert groups(res.clusters["pace_id"]) == {frozenset({0, 1}), frozenset({2})}
    row = res.conflicts[res.conflicts["kind"] == "clerical_conflict"]
    assert row["count"].tolist() == [1] and row["resolution"].tolist() == ["cannot_link_honoured"]


def test_must_link_keeps_records_together_despite_two_ninos():
    res = cluster(small(2, nino=["AB123456", "CD654321"]), edges((0, 1, -20)), 0.9,
                  ClusteringSettings(conflict_fields=["nino"]), must_link=(np.array([0]), np.array([1])))
    assert groups(res.clusters["pace_id"]) == {frozenset({0, 1})}
    assert res.conflicts["kind"].tolist() == ["conflicting_nino"]


def test_clerical_pairs_outside_the_records_are_rejected():
    with pytest.raises(LinkageError, match="must_link holds a position outside"):
        cluster(small(2), edges((0, 1, 1)), 0.9, must_link=(np.array([0]), np.array([5])))


# --------------------------------------------------------------------------------------------------
# Persistent ids
# --------------------------------------------------------------------------------------------------
def test_a_new_record_joins_an_existing_person_and_keeps_its_id(cfg, model):
    s1 = inc.link_batch(inc.empty_state(), people(cfg, [JOHN_SDS, ANNE]), cfg, model, "r1").state
    before = copy.deepcopy(s1)
    batch = people(cfg, [JOHN_BRIDGE])
    batch_before = batch.copy()
    res = inc.link_batch(s1, batch, cfg, model, "r2")
    for name in ("records", "assignments", "ids", "clerical", "history"):  # inputs are never modified
        pd.testing.assert_frame_equal(getattr(s1, name), getattr(before, name))
    pd.testing.assert_frame_equal(batch, batch_before)
    assert pid(res.state, "pension_wise", "5") == pid(s1, "sds", "1") == pid(res.state, "sds", "1")
    assert res.events[["event", "source", "record_id"]].values.tolist() == [["joined", "pension_wise", "5"]]
    assert res.summary["by_source"]["pension_wise"]["joined_existing"] == 1
    assert res.summary["totals"]["persons_after"] == 2


def test_a_bridging_record_merges_two_persons_and_the_retired_id_resolves_to_the_survivor(cfg, model):
    r1 = inc.link_batch(inc.empty_state(), people(cfg, [JOHN_DWP, ANNE]), cfg, model, "r1")
    r2 = inc.link_batch(r1.state, people(cfg, [JOHN_SDS, ("sds", "8") + JOHN_SDS[2:]]), cfg, model, "r2")
    early, late = pid(r1.state, "dwp", "9"), pid(r2.state, "sds", "1")
    assert early != late
    r3 = inc.link_batch(r2.state, people(cfg, [JOHN_BRIDGE]), cfg, model, "r3")
    ids = r3.state.ids.set_index("pace_id")
    # the survivor is the id created first, although the other holds more records
    assert ids.loc[late, "status"] == "retired" and ids.loc[late, "survivor"] == early
    assert inc.resolve(r3.state.ids, late) == early
    assert set(r3.state.assignments.loc[r3.state.assignments["record_id"].isin(["1", "5", "8", "9"]), "pace_id"]) \
        == {early}
    merged = r3.events[r3.events["event"] == "merged"]
    assert merged[["pace_id", "other_id", "run_id"]].values.tolist() == [[early, late, "r3"]]
    detail = json.loads(merged["detail"].item())
    assert detail["records"] == 2 and 1 <= len(detail["pairs"]) <= 5
    assert all(p["l"] == ["pension_wise", "5"] and p["w"] > 0 for p in detail["pairs"])
    assert r3.summary["totals"]["merges"] == 1
    hist = inc.id_history(r3.state, early)
    assert {"created", "merged", "joined"} <= set(hist["event"]) and late in set(hist["pace_id"])
    assert hist["seq"].is_monotonic_increasing


def test_a_cannot_link_decision_splits_a_person_and_the_larger_part_keeps_the_id(cfg, model):
    r1 = inc.link_batch(inc.empty_state(), people(cfg, MARY), cfg, model, "r1")
    mary = pid(r1.state, "sds", "2")
    assert {pid(r1.state, "dwp", "3"), pid(r1.state, "dwp", "4")} == {mary}
    r2 = inc.link_batch(r1.state, people(cfg, []), cfg, model, "r2",
                        clerical=decisions(("sds", "2", "dwp", "4", "cannot_link")))
    assert pid(r2.state, "sds", "2") == pid(r2.state, "dwp", "3") == mary
    other = pid(r2.state, "dwp", "4")
    assert other != mary
    split = r2.events[r2.events["event"] == "split"]
    assert split[["pace_id", "other_id"]].values.tolist() == [[mary, other]]
    assert json.loads(split["detail"].item()) == {"cause": "cannot_link", "records": 1}
    created = r2.events[r2.events["event"] == "created"]
    assert created[["pace_id", "other_id", "record_id"]].values.tolist() == [[other, mary, "4"]]
    # the decision persists: the same record re-sent with a change still may not rejoin
    again = people(cfg, [("dwp", "4", "Mary", "Brown", "1975-05-05", "KY1 1AA", None, "F")])
    r3 = inc.link_batch(r2.state, again, cfg, model, "r3")
    assert pid(r3.state, "dwp", "4") != mary
    assert "cannot_link" in set(r3.conflicts["kind"])


def test_a_must_link_decision_joins_two_records_the_model_would_not(cfg, model):
    r1 = inc.link_batch(inc.empty_state(), people(cfg, [JOHN_SDS, ANNE]), cfg, model, "r1")
    john, anne = pid(r1.state, "sds", "1"), pid(r1.state, "citizens_advice", "7")
    assert john != anne
    r2 = inc.link_batch(r1.state, people(cfg, []), cfg, model, "r2",
                        clerical=decisions(("sds", "1", "citizens_advice", "7", "must_link")))
    assert pid(r2.state, "sds", "1") == pid(r2.state, "citizens_advice", "7")
    pairs = json.loads(r2.events.loc[r2.events["event"] == "merged", "detail"].item())["pairs"]
    assert pairs == [{"l": ["citizens_advice", "7"], "r": ["sds", "1"], "w": None}]
    assert r2.state.clerical[["decision", "run_id"]].values.tolist() == [["must_link", "r2"]]


def test_contradicting_decisions_on_one_pair_are_refused(cfg, model):
    with pytest.raises(LinkageError, match="both must_link and cannot_link"):
        inc.link_batch(inc.empty_state(), people(cfg, [JOHN_SDS, ANNE]), cfg, model, "r1",
                       clerical=decisions(("sds", "1", "citizens_advice", "7", "must_link"),
                                          ("citizens_advice", "7", "sds", "1", "cannot_link")))


def test_a_stored_cannot_link_stops_a_later_bridge_from_merging_the_two_persons(cfg, model):
    r1 = inc.link_batch(inc.empty_state(), people(cfg, [JOHN_SDS, JOHN_DWP]), cfg, model, "r1",
                        clerical=decisions(("sds", "1", "dwp", "9", "cannot_link")))
    r2 = inc.link_batch(r1.state, people(cfg, [JOHN_BRIDGE]), cfg, model, "r2")
    assert pid(r2.state, "sds", "1") != pid(r2.state, "dwp", "9")
    assert pid(r2.state, "pension_wise", "5") in {pid(r2.state, "sds", "1"), pid(r2.state, "dwp", "9")}
    assert r2.summary["totals"]["merges"] == 0 and "cannot_link" in set(r2.conflicts["kind"])
    assert set(r2.conflicts["pace_id"]) <= set(r2.state.assignments["pace_id"])  # reported under live ids


def test_an_employer_config_founds_e_ids_as_a_full_employer_run_does(cfg, model):
    """Ids take the Linker's prefix (``E`` for ``entity: employer``) in the state, the events and the
    conflicts; apart from it the run is the person run."""
    employer = cfg.model_copy(update={"entity": "employer"})
    runs = {}
    for c in (cfg, employer):
        r1 = inc.link_batch(inc.empty_state(), people(c, [JOHN_SDS, JOHN_DWP, *MARY]), c, model, "r1",
                            clerical=decisions(("sds", "1", "dwp", "9", "cannot_link")))
        runs[c.entity] = inc.link_batch(r1.state, people(c, [JOHN_BRIDGE, ANNE]), c, model, "r2",
                                        clerical=decisions(("sds", "2", "dwp", "4", "cannot_link")))
    p, e = runs["person"], runs["employer"]
    assert Linker.from_config(employer).id_prefix == "E" and len(e.conflicts) and len(e.state.ids) > 3

    def as_e(values: pd.Series) -> pd.Series:
        return values.map(lambda v: "E" + v[1:] if isinstance(v, str) else v)

    assert e.state.ids["pace_id"].str.startswith("E").all()
    for col in ("pace_id", "survivor"):
        assert e.state.ids[col].tolist() == as_e(p.state.ids[col]).tolist()
    assert e.state.assignments["pace_id"].tolist() == as_e(p.state.assignments["pace_id"]).tolist()
    for col in ("pace_id", "other_id"):
        assert e.state.history[col].tolist() == as_e(p.state.history[col]).tolist()
    assert e.conflicts["pace_id"].tolist() == as_e(p.conflicts["pace_id"]).tolist()
    assert set(e.conflicts["pace_id"]) <= set(e.state.assignments["pace_id"])


def test_an_updated_record_that_links_elsewhere_moves_and_splits_from_its_person(cfg, model):
    mary_again = ("sds", "6", "Mary", "Brown", "1975-05-05", "KY1 1AA", "CD654321A", "F")
    r1 = inc.link_batch(inc.empty_state(), people(cfg, MARY[:2] + [mary_again, ANNE]), cfg, model, "r1")
    mary, anne = pid(r1.state, "sds", "2"), pid(r1.state, "citizens_advice", "7")
    moved = ("sds", "6") + ANNE[2:]  # the partner corrected the record: it was Anne's
    r2 = inc.link_batch(r1.state, people(cfg, [moved, MARY[0]]), cfg, model, "r2")
    assert pid(r2.state, "sds", "6") == anne and pid(r2.state, "sds", "2") == mary
    ev = r2.events.set_index("event")
    assert ev.loc["split", ["pace_id", "other_id"]].tolist() == [mary, anne]
    assert json.loads(ev.loc["split", "detail"])["cause"] == "record_updated"
    assert ev.loc["record_updated", ["pace_id", "other_id", "record_id"]].tolist() == [anne, mary, "6"]
    counts = r2.summary["by_source"]["sds"]
    assert (counts["updated"], counts["unchanged"], counts["new"]) == (1, 1, 0)
    assert r2.state.records.loc[r2.state.records["record_id"] == "6", "surname"].item() == "WILSON"


def test_an_updated_record_that_still_links_stays_in_its_person(cfg, model):
    r1 = inc.link_batch(inc.empty_state(), people(cfg, MARY), cfg, model, "r1")
    moved_house = ("dwp", "3", "Mary", "Brown", "1975-05-05", "KY2 5QQ", "CD654321A", "F")
    r2 = inc.link_batch(r1.state, people(cfg, [moved_house]), cfg, model, "r2")
    assert pid(r2.state, "dwp", "3") == pid(r1.state, "dwp", "3")
    assert r2.events[["event", "other_id"]].values.tolist() == [["record_updated", None]]
    assert r2.summary["totals"]["splits"] == 0


def test_a_deleted_record_leaves_its_person_and_the_history_keeps_no_value(cfg, model):
    r1 = inc.link_batch(inc.empty_state(), people(cfg, MARY + [ANNE]), cfg, model, "r1")
    mary, anne = pid(r1.state, "sds", "2"), pid(r1.state, "citizens_advice", "7")
    gone = pd.DataFrame({"source": ["dwp", "citizens_advice", "sds"], "record_id": ["3", "7", "nope"],
                         "reason": ["consent_withdrawn", "deleted", "deleted"]})
    r2 = inc.link_batch(r1.state, people(cfg, []), cfg, model, "r2", deletions=gone)
    assert ("dwp", "3") not in keys_of(r2.state.records)
    assert pid(r2.state, "sds", "2") == mary
    ids = r2.state.ids.set_index("pace_id")
    assert ids.loc[anne, "status"] == "empty" and ids.loc[mary, "status"] == "active"
    removed = r2.events[r2.events["event"] == "record_removed"]
    assert [json.loads(d) for d in removed["detail"]] == [
        {"reason": "deleted", "person_left_empty": True}, {"reason": "consent_withdrawn"}]
    assert r2.removed[["source", "record_id", "pace_id", "reason"]].values.tolist() == [
        ["citizens_advice", "7", anne, "deleted"], ["dwp", "3", mary, "consent_withdrawn"]]
    assert r2.summary["totals"]["deletions_not_found"] == 1
    text = r2.state.history.to_csv() + r2.state.ids.to_csv() + r2.removed.to_csv()
    for value in ("MARY", "BROWN", "ANNE", "WILSON", "1975-05-05", "1990-09-09", "CD654321", "KY1", "AB10"):
        assert value not in text.upper()


def test_a_record_deleted_then_sent_again_founds_a_fresh_id_never_reusing_the_old_one(cfg, model):
    r1 = inc.link_batch(inc.empty_state(), people(cfg, [ANNE]), cfg, model, "r1")
    old = pid(r1.state, "citizens_advice", "7")
    gone = pd.DataFrame({"source": ["citizens_advice"], "record_id": ["7"], "reason": ["deleted"]})
    r2 = inc.link_batch(r1.state, people(cfg, []), cfg, model, "r2", deletions=gone)
    r3 = inc.link_batch(r2.state, people(cfg, [ANNE]), cfg, model, "r3")
    new = pid(r3.state, "citizens_advice", "7")
    assert new != old and r3.state.ids.set_index("pace_id").loc[old, "status"] == "empty"
    assert r3.events[["event", "pace_id"]].values.tolist() == [["created", new]]


def test_the_config_id_column_names_the_ids_in_the_state_the_events_and_the_store(cfg, model, tmp_path):
    """With ``id_column: person_key`` every frame carries ``person_key`` where the default has ``pace_id``,
    holding the same ids; the store keeps it and reads it back."""
    from pace_linkage.incremental import persist
    from pace_linkage.store import database as store

    keyed = cfg.model_copy(update={"id_column": "person_key"})
    gone = pd.DataFrame({"source": ["citizens_advice"], "record_id": ["7"], "reason": ["deleted"]})
    runs = {}
    for c in (cfg, keyed):
        r1 = inc.link_batch(inc.empty_state(c.id_column), people(c, [JOHN_DWP, ANNE]), c, model, "r1")
        r2 = inc.link_batch(r1.state, people(c, [JOHN_SDS, ("sds", "8") + JOHN_SDS[2:]]), c, model, "r2")
        runs[c.id_column] = inc.link_batch(r2.state, people(c, [JOHN_BRIDGE]), c, model, "r3", deletions=gone)
    a, b = runs["pace_id"], runs["person_key"]
    as_keyed = {"pace_id": "person_key"}
    for name in ("assignments", "ids", "history"):
        assert "pace_id" not in getattr(b.state, name).columns
        pd.testing.assert_frame_equal(getattr(a.state, name).rename(columns=as_keyed), getattr(b.state, name))
    pd.testing.assert_frame_equal(a.events.rename(columns=as_keyed), b.events)
    pd.testing.assert_frame_equal(a.removed.rename(columns=as_keyed), b.removed)
    assert a.summary == b.summary
    retired = b.state.ids.loc[b.state.ids["status"] == "retired", "person_key"].item()
    survivor = inc.resolve(b.state.ids, retired, id_column="person_key")
    assert survivor == inc.resolve(a.state.ids, retired) == pid(a.state, "dwp", "9")
    assert inc.resolve_all(b.state.ids, id_column="person_key")[retired] == survivor
    assert inc.id_history(b.state, survivor, id_column="person_key")["seq"].tolist() == \
        inc.id_history(a.state, survivor)["seq"].tolist()
    with pytest.raises(LinkageError, match="id_column is 'person_key'"):
        inc.link_batch(inc.empty_state(), people(keyed, [ANNE]), keyed, model, "r1")

    with store.open_store(tmp_path / "pace.duckdb") as st:
        st.write_run("r3", {}, {}, state=persist.state_tables(b.state, b.model),
                     log=persist.log_tables(b.events, b.removed))
        back, _ = persist.load_state(st, id_column="person_key")
        with pytest.raises(InputError, match="no id column 'pace_id'"):
            persist.load_state(st)
    assert back.ids["person_key"].tolist() == sorted(b.state.ids["person_key"])
    assert back.assignments.values.tolist() == b.state.assignments.values.tolist()
    assert back.history["person_key"].tolist() == b.events["person_key"].tolist()


def test_a_state_read_back_in_any_row_order_links_the_same(cfg, model):
    r1 = inc.link_batch(inc.empty_state(), people(cfg, MARY + [JOHN_SDS, ANNE]), cfg, model, "r1")
    s = r1.state
    shuffled = inc.State(records=s.records.sample(frac=1, random_state=1).astype(object),
                         assignments=s.assignments.sample(frac=1, random_state=2), ids=s.ids.iloc[::-1],
                         clerical=s.clerical, history=s.history.sample(frac=1, random_state=3))
    a = inc.link_batch(s, people(cfg, [JOHN_BRIDGE]), cfg, model, "r2")
    b = inc.link_batch(shuffled, people(cfg, [JOHN_BRIDGE]), cfg, model, "r2")
    pd.testing.assert_frame_equal(a.state.assignments, b.state.assignments)
    pd.testing.assert_frame_equal(a.events, b.events)


def test_an_unchanged_record_sent_again_is_ignored(cfg, model):
    r1 = inc.link_batch(inc.empty_state(), people(cfg, MARY), cfg, model, "r1")
    r2 = inc.link_batch(r1.state, people(cfg, MARY), cfg, model, "r2")
    assert r2.events.empty and len(r2.pairs) == 0
    assert r2.summary["totals"]["unchanged"] == 3
    pd.testing.assert_frame_equal(r2.state.assignments, r1.state.assignments)


def test_a_run_id_is_used_once_per_state(cfg, model):
    r1 = inc.link_batch(inc.empty_state(), people(cfg, MARY), cfg, model, "r1")
    with pytest.raises(LinkageError, match="already used"):
        inc.link_batch(r1.state, people(cfg, [ANNE]), cfg, model, "r1")


def test_record_hash_ignores_row_order_columns_line_and_derived_columns_but_not_values(cfg):
    rec = people(cfg, MARY)
    h = inc.record_hash(rec, cfg.fields)
    assert h.str.fullmatch(r"[0-9a-f]{64}").all()
    assert h[0] == h[1] != h[2]  # the first two hold the same values (keys are not hashed)
    shuffled = rec.iloc[::-1][list(reversed(rec.columns))].assign(line=99, surname_sound="X")
    assert inc.record_hash(shuffled, cfg.fields).tolist() == h.tolist()[::-1]
    changed = rec.assign(postcode=["KY1 1AA", "KY1 1AA", None])
    assert (inc.record_hash(changed, cfg.fields) == h).tolist() == [True, True, False]


def test_initial_state_from_a_full_run_is_what_a_first_batch_gives(cfg, synth):
    records, _, full = synth
    state = inc.initial_state(records, full.clusters, "full", cfg)
    first = inc.link_batch(inc.empty_state(), records, cfg, full.model, "full").state
    pd.testing.assert_frame_equal(state.assignments, first.assignments)
    pd.testing.assert_frame_equal(state.ids, first.ids)
    assert (state.history["event"].value_counts() == first.history["event"].value_counts()).all()
    assert state.persons() == full.clusters.clusters["pace_id"].nunique()


def test_compare_partitions_counts_the_records_and_persons_that_differ():
    a = pd.DataFrame({"source": "s", "record_id": list("abcdef"), "pace_id": ["1", "1", "2", "2", "3", "4"]})
    b = pd.DataFrame({"source": "s", "record_id": list("fedcba"), "pace_id": ["9", "8", "8", "7", "6", "6"]})
    res = inc.compare_partitions(a, b)
    assert res["records"] == 6 and res["records_differing"] == 3  # a-persons {c, d}, {e}; b-persons {c}, {d, e}
    assert res["persons_split"] == 1 and res["persons_merged"] == 1
    assert res["differences"]["record_id"].tolist() == ["c", "d", "e"]
    assert res["pairwise"]["tp"] == 1 and res["pairwise"]["pairs_a"] == 2 and res["pairwise"]["pairs_b"] == 2
    assert inc.compare_partitions(a, a)["pairwise"]["f1"] == 1.0


# --------------------------------------------------------------------------------------------------
# Two batches against one go, on synthetic data with truth
# --------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def two_batches(cfg, synth):
    records = synth[0]
    first = np.random.default_rng(5).random(len(records)) < 0.5
    b1, b2 = records[first].reset_index(drop=True), records[~first].reset_index(drop=True)
    r1 = inc.link_batch(inc.empty_state(), b1, cfg, None, "batch-1")  # trains its own model
    r2 = inc.link_batch(r1.state, b2, cfg, r1.model, "batch-2")  # reuses it
    return b1, r1, r2


def test_two_batches_give_the_same_persons_as_one_go(synth, two_batches):
    _, truth, full = synth
    _, r1, r2 = two_batches
    one_go = full.clusters.clusters
    diff = inc.compare_partitions(r2.state.assignments, one_go)
    assert diff["records"] == len(one_go) and diff["only_in_a"] == diff["only_in_b"] == 0
    assert diff["pairwise"]["f1"] >= 0.99
    f1_batches = pairwise_metrics(r2.state.assignments, truth)["f1"]
    f1_one_go = pairwise_metrics(one_go, truth)["f1"]
    assert abs(f1_batches - f1_one_go) <= 0.01
    assert r1.model_trained and not r2.model_trained


def test_refresh_model_retrains_on_the_batch_and_the_summary_counts_every_batch_record(cfg, synth, two_batches):
    b1, r1, r2 = two_batches
    b2 = synth[0].merge(b1[KEYS], on=KEYS, how="left", indicator=True).query("_merge == 'left_only'")
    again = inc.link_batch(r1.state, b2.drop(columns="_merge"), cfg, r1.model, "batch-2", refresh_model=True)
    assert again.model_trained and again.model is not r1.model
    totals = again.summary["totals"]
    assert totals["new"] == len(b2) == sum(s["new"] for s in again.summary["by_source"].values())
    assert totals["records_after"] == len(synth[0]) and totals["records_before"] == len(b1)
    assert r2.summary["totals"]["new"] == len(b2)


def test_second_batch_candidate_pairs_never_pair_two_old_records(two_batches):
    b1, _, r2 = two_batches
    old = keys_of(b1)
    p = r2.pairs
    left_old = [k in old for k in zip(p["source_l"], p["record_id_l"], strict=True)]
    right_old = [k in old for k in zip(p["source_r"], p["record_id_r"], strict=True)]
    assert len(p) > 0 and not any(a and b for a, b in zip(left_old, right_old, strict=True))
    assert r2.summary["totals"]["candidate_pairs"] == len(p)


def test_ids_from_the_first_batch_keep_their_meaning_after_the_second(two_batches):
    _, r1, r2 = two_batches
    now = inc.resolve_all(r2.state.ids)
    both = r1.state.assignments.merge(r2.state.assignments, on=KEYS, suffixes=("_1", "_2"))
    assert len(both) == len(r1.state.assignments)
    assert (both["pace_id_1"].map(now) == both["pace_id_2"]).all()
    issued = set(r1.state.ids["pace_id"])
    assert issued <= set(r2.state.ids["pace_id"])
    kept = r2.state.ids[r2.state.ids["pace_id"].isin(issued)]
    assert set(kept["status"]) <= {"active", "retired"} and (kept["created_run"] == "batch-1").all()
    assert r2.summary["totals"]["persons_after"] == r2.state.assignments["pace_id"].nunique()

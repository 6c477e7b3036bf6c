"""People -> employers: matching a person record's employer text to the linked employers, the per-person and
per-employer results, their accuracy against truth and the report section."""

import pandas as pd
import pytest

from pace_linkage.config import FieldSpec, PeopleLinkSettings, load_config
from pace_linkage.normalise import normalise_records
from pace_linkage.study.employer_links import (
    employer_people_frame,
    employer_tables,
    link_accuracy,
    people_employers_metrics,
    person_employers,
)
from pace_linkage.study.employers import EMPLOYER_ID, match_employers, org_keys, person_read_config

LINK = PeopleLinkSettings()
FIELDS = {"name": FieldSpec(kind="org_name"), "postcode": FieldSpec(kind="postcode")}


def keys(names, postcodes=None, source="p"):
    """Org keys of raw names (as the pipeline normalises them), one record each."""
    n = len(names)
    df = pd.DataFrame(
        {
            "source": source,
            "record_id": [str(i) for i in range(n)],
            "line": range(2, n + 2),
            "name": names,
            "postcode": postcodes or [None] * n,
        }
    )
    records, _ = normalise_records(df, FIELDS)
    return org_keys(records, "name", ["postcode"])


def employer_side(rows):
    """Employer keys from (eid, raw name, site postcode) rows."""
    k = keys([n for _, n, _ in rows], [p for _, _, p in rows], source="e")
    return k.assign(eid=[e for e, _, _ in rows]).drop(columns=["source", "record_id"])


EMPLOYERS = employer_side(
    [
        ("E1", "Clyde Bakery Ltd", "G1 1AA"),
        ("E1", "CLYDE BAKERY LIMITED", "G2 2BB"),  # the same employer at another site
        ("E2", "Smith Holdings Ltd t/a Forth Bread", "EH1 1AA"),
        ("E3", "Kelly Engineering Group Ltd", "AB1 1AA"),
        ("E4", "Pentland Fashion Ltd", "KA1 1AA"),
        ("E5", "Pentland Fashion LLP", "G3 3DD"),
        ("E6", "Lomond Precision Components Ltd", "PA1 1AA"),
        ("E7", "Clyde Foods Ltd", "AB1 1AA"),
        ("E8", "Clyde Foods Group Ltd", "G1 1AA"),
    ]
)


def match(names, postcodes=None, link=LINK):
    return match_employers(keys(names, postcodes), EMPLOYERS, link)


def test_person_records_find_their_employer_by_name_trading_name_core_and_similar_name():
    got = match(
        [
            "Clyde Bakery",
            "Forth Bread",
            "Smith Holdings",
            "Kelly Engineering",
            "Lomond Precision Components",
            "Lomond Precison Components",
        ]
    )
    assert got[EMPLOYER_ID].tolist() == ["E1", "E2", "E2", "E3", "E6", "E6"]
    assert got["how"].tolist() == [
        "exact_name",
        "trading_name",
        "exact_name",
        "core_name",
        "exact_name",
        "similar_name",
    ]


def test_legal_form_then_postcode_area_break_ties_and_a_true_tie_links_nothing():
    got = match(
        ["Pentland Fashion LLP", "Pentland Fashion", "Pentland Fashion", "Pentland Fashion"],
        ["EH1 1AA", "KA9 9ZZ", "G40 1AB", "DD1 1AA"],
    )
    assert got[EMPLOYER_ID].tolist() == ["E5", "E4", "E5", None]
    assert got["how"].tolist() == ["exact_name", "exact_name", "exact_name", "ambiguous"]


def test_a_similar_name_needs_the_first_word_and_the_whole_name_to_agree():
    got = match(
        ["Firth Precision Components", "Lomond Precision Components Unit Two", "Lomond Precisoin Components"]
    )
    assert got["how"].tolist() == ["no_match", "no_match", "similar_name"]


def test_the_registered_name_wins_then_the_postcode_area_then_the_exact_name():
    got = match(
        ["Clyde Foods Ltd", "Clyde Foods", "Clyde Foods", "Clyde Foods"],
        ["G2 2AA", "G2 2AA", "AB2 2AA", "DD1 1AA"],
    )
    assert got[EMPLOYER_ID].tolist() == ["E7", "E8", "E7", "E7"]
    assert got["how"].tolist() == ["exact_name", "core_name", "exact_name", "exact_name"]


def test_records_without_an_employer_or_without_a_match_link_nothing():
    got = match([None, "Tay Textiles", "n/a"])
    assert got[EMPLOYER_ID].isna().all()
    assert got["how"].tolist() == ["no_employer_recorded", "no_match", "no_employer_recorded"]


def test_a_word_held_by_too_many_employers_proposes_no_candidate():
    strict = PeopleLinkSettings(max_word_employers=1)
    # "Lomond Precison Components" reaches E6 only through shared words; all are rare: still found
    assert match(["Lomond Precison Components"], link=strict)[EMPLOYER_ID].tolist() == ["E6"]
    # "Pentland" is held by two employers: with a limit of one it proposes nothing
    assert match(["Pentland Fashions Scotland"], link=strict)["how"].tolist() == ["no_match"]


def test_matching_is_the_same_whatever_the_order_of_the_records():
    names = ["Clyde Bakery", "Forth Bread", "Pentland Fashion", "Kelly Engineering", None]
    pcs = ["G1 1AA", None, "DD1 1AA", None, None]
    a = match(names, pcs)
    b = match(names[::-1], pcs[::-1])
    assert a[EMPLOYER_ID].tolist() == b[EMPLOYER_ID].tolist()[::-1]


def _records():
    """Person records with pace ids and their linked employers."""
    return pd.DataFrame(
        {
            "source": ["dwp", "sds", "sds", "dwp", "pension_wise", "sds"],
            "record_id": ["1", "2", "3", "4", "5", "6"],
            "pace_id": ["P1", "P1", "P2", "P3", "P3", "P4"],
            EMPLOYER_ID: ["E1", "E1", "E1", "E2", "E3", None],
            "how": ["exact_name", "core_name", "exact_name", "exact_name", "similar_name", "no_match"],
            "score": [1.0, 1.0, 1.0, 1.0, 0.95, 0.0],
        }
    )


def test_each_person_carries_the_employers_its_records_name_with_the_partners():
    links = person_employers(_records())
    assert links.to_dict("records") == [
        {"pace_id": "P1", EMPLOYER_ID: "E1", "partners": "dwp;sds", "records": 2},
        {"pace_id": "P2", EMPLOYER_ID: "E1", "partners": "sds", "records": 1},
        {"pace_id": "P3", EMPLOYER_ID: "E2", "partners": "dwp", "records": 1},
        {"pace_id": "P3", EMPLOYER_ID: "E3", "partners": "pension_wise", "records": 1},
    ]


EMP_CLUSTERS = pd.DataFrame(
    {
        "source": ["bg", "sds", "sds", "sds", "bg"],
        "record_id": ["b1", "s1", "s2", "s3", "b2"],
        EMPLOYER_ID: ["E1", "E1", "E2", "E3", "E4"],
    }
)


def test_per_employer_counts_distinct_people_per_partner_and_suppresses_small_ones():
    t = employer_tables(_records(), EMP_CLUSTERS, ["dwp", "pension_wise", "sds"])
    assert t.people.loc["E1"].tolist() == [1, 0, 2]
    assert t.distinct.tolist() == [2, 1, 1, 0]
    assert t.employer_partners.tolist() == ["bg;sds", "sds", "sds", "bg"]
    shown = employer_people_frame(t, small_count_threshold=3)
    assert shown[EMPLOYER_ID].tolist()[0] == "E1"  # most people first
    row = shown.iloc[0]
    assert row["people_dwp"] == "*" and row["people_sds"] == "*" and row["people_distinct"] == "*"
    counts = shown.drop(columns=[EMPLOYER_ID, "employer_partners"]).to_numpy().ravel()
    assert all(v == "*" or v == 0 or v >= 3 for v in counts)  # nothing from 1 to 2 is shown


def test_partners_that_worked_with_the_same_employer_are_counted_together():
    t = employer_tables(_records(), EMP_CLUSTERS, ["dwp", "pension_wise", "sds"])
    m = people_employers_metrics(_records(), t, PeopleLinkSettings(small_count_threshold=0), labels={})
    parts = m["partners_together"]["partners"]
    together = dict(zip(parts, m["partners_together"]["matrix"], strict=True))
    assert parts == ["bg (employers)", "sds (employers)", "dwp", "pension_wise", "sds"]
    assert together["sds (employers)"][parts.index("dwp")] == 2  # E1 and E2
    assert together["bg (employers)"][parts.index("bg (employers)")] == 2  # E1 and E4
    assert m["persons"] == {"persons": 4, "with_employer": 3, "with_several_employers": 1}


def test_link_accuracy_counts_right_wrong_and_unlinkable_records():
    records = _records()
    emp_truth = pd.DataFrame(
        {
            "source": ["bg", "sds", "sds", "sds", "bg"],
            "record_id": ["b1", "s1", "s2", "s3", "b2"],
            "employer_id": ["T1", "T1", "T2", "T3", "T4"],
        }
    )
    person_truth = pd.DataFrame(
        {
            "source": records["source"],
            "record_id": records["record_id"],
            "employer_id": ["T1", "T1", "T1", "T2", "T9", "T4"],
        }
    )
    acc = link_accuracy(records, EMP_CLUSTERS, person_truth, emp_truth)
    rec = acc["records"]
    # record 5 names an employer (T3's cluster) though its true employer T9 is held by nobody: wrong and
    # unlinkable
    assert (rec["linked"], rec["right"], rec["wrong"], rec["linkable"], rec["linked_not_linkable"]) == (
        5,
        4,
        1,
        5,
        1,
    )
    assert rec["precision"] == 0.8 and rec["recall"] == 0.8
    per = acc["persons"]
    assert per["links"] == 4 and per["right"] == 3


def test_the_person_side_reads_only_the_employer_and_postcode_fields():
    person = load_config()
    emp = load_config("config/employer.yaml")
    cfg = person_read_config(person, emp.people_link)
    assert set(cfg.fields) == {"employer", "postcode"} and cfg.fields["employer"].kind == "org_name"
    assert all(set(s.columns) <= {"employer", "postcode"} for s in cfg.sources.items)
    assert person.fields["employer"].kind == "text"  # the person config itself is untouched


def test_the_report_section_shows_matching_accuracy_and_partners(tmp_path):
    from pace_linkage.pipeline import report_page

    t = employer_tables(_records(), EMP_CLUSTERS, ["dwp", "pension_wise", "sds"])
    acc = {
        "records": {
            "precision": 0.8,
            "recall": 0.8,
            "f1": 0.8,
            "linked": 5,
            "right": 4,
            "wrong": 1,
            "linkable": 5,
        },
        "persons": {"precision": 0.75, "recall": 1.0, "f1": 0.857, "links": 4},
    }
    m = people_employers_metrics(
        _records(),
        t,
        PeopleLinkSettings(small_count_threshold=3),
        labels={"dwp": "DWP / Jobcentre Plus"},
        notes=["Sites: one employer"],
        accuracy=acc,
    )
    html = report_page({"run": {"entity": "person"}, "people_employers": m}, title="People and employers")
    assert "People and their employers" in html and "Accuracy against the truth" in html
    assert (
        "People seen by DWP / Jobcentre Plus" in html
        and "Which partners worked with the same employers" in html
    )
    assert "<code>E1</code>" in html


@pytest.mark.parametrize(
    ("entity", "expected"), [("person", "Persons (clusters)"), ("employer", "Employers (clusters)")]
)
def test_report_wording_follows_the_entity_in_text_but_never_in_markup(entity, expected):
    from pace_linkage.report import render_report

    id_column = "pace_employer_id" if entity == "employer" else "pace_id"
    overlap = {"partners": ["a", "b"], "matrix": [[2, 1], [1, 2]], "partners_per_person": {"1": 2, "2": 1}}
    metrics = {"run": {"entity": entity, "id_column": id_column}, "clusters": {"clusters": 3}, "overlap": overlap,
               "pairwise": {"precision": 1.0, "recall": 1.0, "f1": 1.0}}
    out = render_report(metrics, title="t")
    assert expected in out and '-partners-per-person"' in out  # the chart's id (markup) keeps its name
    assert ("both records share a pace_employer_id and true when they share a employer" in out) == (
        entity == "employer")
    assert ("Persons" in out) == (entity == "person")

"""People -> employers, what the links show: each person's employers, per employer the affected people each
partner saw and which partners worked with the same employers, the links' accuracy against truth, the
``people_employers`` metrics, and the whole step (the ``pace-linkage employers`` verb) with its outputs.

Which employer a person record names is decided in :mod:`pace_linkage.study.employers`; the report section is
:mod:`pace_linkage.study.employers_report`. Ids and counts only: no business name is written.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from pace_linkage.config import PaceConfig, PeopleLinkSettings
from pace_linkage.errors import InputError
from pace_linkage.evaluate.metrics import load_truth
from pace_linkage.evaluate.quality import f1_score, ratio
from pace_linkage.features import Feature
from pace_linkage.redact import SUPPRESSED, suppress_small, suppress_table
from pace_linkage.report.render import CORE_SECTIONS, render_report
from pace_linkage.schema import RECORD_ID, SOURCE, VERSION
from pace_linkage.store.outputs import RunWriter
from pace_linkage.study.employers import (
    EMPLOYER_ID,
    HOWS,
    NO_EMPLOYER,
    employer_keys,
    match_employers,
    org_keys,
    people_link_settings,
    person_read_config,
)
from pace_linkage.study.employers_report import PEOPLE_EMPLOYERS


# --------------------------------------------------------------------------------------------------
# Persons and employers
# --------------------------------------------------------------------------------------------------
def with_person_ids(
    matches: pd.DataFrame, person_clusters: pd.DataFrame, id_column: str = "pace_id"
) -> pd.DataFrame:
    """``matches`` joined to the person run's ids (records the person run did not cluster are left out),
    sorted by source and record id."""
    ids = person_clusters[[SOURCE, RECORD_ID, id_column]].astype(str)
    m = matches.astype({SOURCE: str, RECORD_ID: str}).merge(ids, on=[SOURCE, RECORD_ID], how="inner")
    cols = [SOURCE, RECORD_ID, id_column, EMPLOYER_ID, "how", "score"]
    return m[cols].sort_values([SOURCE, RECORD_ID], kind="stable").reset_index(drop=True)


def person_employers(records: pd.DataFrame, id_column: str = "pace_id") -> pd.DataFrame:
    """One row per (person, employer) link: ``pace_id, pace_employer_id, partners`` (the sources whose records
    of the person named the employer, ``;``-joined, sorted) and ``records``; sorted by the two ids."""
    linked = records[records[EMPLOYER_ID].notna()]
    if linked.empty:
        return pd.DataFrame(
            {id_column: [], EMPLOYER_ID: [], "partners": [], "records": pd.Series(dtype=np.int64)}
        )
    g = linked.groupby([id_column, EMPLOYER_ID], sort=True)
    out = g[SOURCE].agg(lambda s: ";".join(sorted(set(s)))).rename("partners").to_frame()
    out["records"] = g.size().astype(np.int64)
    return out.reset_index()


@dataclass
class EmployerTables:
    """Per employer: the partners holding an employer record, and the distinct people each person-facing
    partner saw (from the linked records). ``people`` is employers x person partners (distinct ``pace_id``s),
    ``worked`` employers x every partner (bool: the partner worked with the employer)."""

    people: pd.DataFrame
    distinct: pd.Series
    employer_partners: pd.Series
    worked: pd.DataFrame


def employer_tables(
    records: pd.DataFrame,
    employer_clusters: pd.DataFrame,
    person_sources: list[str],
    emp_id_column: str = EMPLOYER_ID,
    id_column: str = "pace_id",
) -> EmployerTables:
    """The per-employer counts behind the report (every employer of the employer run, people or not)."""
    ec = employer_clusters[[SOURCE, emp_id_column]].astype(str).rename(columns={emp_id_column: EMPLOYER_ID})
    eids = sorted(ec[EMPLOYER_ID].unique())
    emp_sources = sorted(ec[SOURCE].unique())
    held = pd.crosstab(ec[EMPLOYER_ID], ec[SOURCE]).reindex(index=eids, columns=emp_sources, fill_value=0) > 0
    linked = records[records[EMPLOYER_ID].notna()][[SOURCE, id_column, EMPLOYER_ID]].drop_duplicates()
    people = (
        linked.groupby([EMPLOYER_ID, SOURCE])[id_column]
        .nunique()
        .unstack(fill_value=0)
        .reindex(index=eids, columns=person_sources, fill_value=0)
        .astype(np.int64)
    )
    distinct = linked.groupby(EMPLOYER_ID)[id_column].nunique().reindex(eids, fill_value=0).astype(np.int64)
    partners = (
        held.apply(lambda r: ";".join(c for c in emp_sources if r[c]), axis=1)
        if len(eids)
        else pd.Series(dtype=object)
    )
    worked = pd.concat([held.add_suffix(" (employers)"), (people > 0)], axis=1)
    return EmployerTables(people, distinct, partners, worked)


def employer_people_frame(t: EmployerTables, small_count_threshold: int) -> pd.DataFrame:
    """The per-employer table as published (``employer_people.csv``, the report's rows): the employer id, the
    employer partners, the people each person partner saw and their sum, and the distinct people -- counts
    1..k-1 and the cells that would give them away through the sums shown as ``*``; sorted by distinct people
    (most first), then id."""
    k = small_count_threshold
    shown = suppress_table(t.people, k, total_label="sum over partners") if len(t.people) else t.people.copy()
    shown = shown.drop(index="sum over partners", errors="ignore")
    out = pd.DataFrame(
        {EMPLOYER_ID: t.people.index.to_numpy(), "employer_partners": t.employer_partners.to_numpy()}
    )
    for col in shown.columns:
        out[f"people_{col}" if col != "sum over partners" else "people_sum_over_partners"] = shown[
            col
        ].to_numpy()
    out["people_distinct"] = [suppress_small(int(v), k) for v in t.distinct.to_numpy()]
    order = np.lexsort((out[EMPLOYER_ID].to_numpy(dtype=str), -t.distinct.to_numpy()))
    return out.iloc[order].reset_index(drop=True)


# --------------------------------------------------------------------------------------------------
# Accuracy against truth
# --------------------------------------------------------------------------------------------------
def _majority(keys: pd.Series, values: pd.Series) -> pd.Series:
    """Per key, its most frequent value (ties: the smallest)."""
    c = pd.DataFrame({"k": keys.to_numpy(), "v": values.to_numpy()}).value_counts().reset_index(name="n")
    c = c.sort_values(["k", "n", "v"], ascending=[True, False, True], kind="stable")
    return c.drop_duplicates("k").set_index("k")["v"]


def link_accuracy(
    records: pd.DataFrame,
    employer_clusters: pd.DataFrame,
    person_truth: pd.DataFrame,
    employer_truth: pd.DataFrame,
    emp_id_column: str = EMPLOYER_ID,
    id_column: str = "pace_id",
) -> dict:
    """Links measured against truth: ``person_truth`` (source, record_id, employer_id: each person record's
    true employer) and ``employer_truth`` (source, record_id, employer_id of the employer records).

    An employer cluster stands for the true employer most of its records belong to. Record level: a linked
    record is right when its employer cluster stands for the record's true employer; a record is *linkable*
    when it names an employer and its true employer has a record in the employer extracts (a record whose
    employer no partner holds should link to nothing). Person level: a (person, employer) link is right when
    the employer stands for the true employer most of the person's records have; a person is linkable when
    that employer is held by a partner and one of the person's records names an employer."""
    pt = person_truth[[SOURCE, RECORD_ID, "employer_id"]].astype(str)
    et = employer_truth[[SOURCE, RECORD_ID, "employer_id"]].astype(str)
    ec = employer_clusters[[SOURCE, RECORD_ID, emp_id_column]].astype(str).merge(et, on=[SOURCE, RECORD_ID])
    stands_for = _majority(ec[emp_id_column], ec["employer_id"])
    held = set(et["employer_id"])
    r = records.merge(pt, on=[SOURCE, RECORD_ID], how="left")
    named = (r["how"] != NO_EMPLOYER).to_numpy()
    true_emp = r["employer_id"].to_numpy(dtype=object)
    linked = r[EMPLOYER_ID].notna().to_numpy()
    pred = r[EMPLOYER_ID].map(stands_for).to_numpy(dtype=object)
    right = linked & (pred == true_emp)
    linkable = named & np.isin(true_emp.astype(str), list(held)) & pd.notna(true_emp)
    rec = {
        "records": int(len(r)),
        "named": int(named.sum()),
        "linkable": int(linkable.sum()),
        "linked": int(linked.sum()),
        "right": int(right.sum()),
        "wrong": int((linked & ~right).sum()),
        "linked_not_linkable": int((linked & ~linkable).sum()),
    }
    rec.update(_published(ratio(rec["right"], rec["linked"]), ratio(rec["right"], rec["linkable"])))

    truth_of_person = _majority(r[id_column], r["employer_id"].fillna(""))
    links = person_employers(records, id_column)
    l_right = links[EMPLOYER_ID].map(stands_for).to_numpy(dtype=object) == links[id_column].map(
        truth_of_person
    ).to_numpy(dtype=object)
    named_persons = set(r.loc[named, id_column])
    linkable_p = {p for p, e in truth_of_person.items() if e in held and p in named_persons}
    found = set(links.loc[l_right, id_column])
    per = {
        "persons": int(r[id_column].nunique()),
        "linkable": len(linkable_p),
        "links": int(len(links)),
        "right": int(l_right.sum()),
        "persons_found": len(found & linkable_p),
    }
    per.update(_published(ratio(per["right"], per["links"]), ratio(per["persons_found"], per["linkable"])))
    return {"records": rec, "persons": per}


def _published(precision: float, recall: float) -> dict:
    """Precision and recall rounded to 6 places, and the F1 of the two as rounded (the figures published)."""
    p, r = round(precision, 6), round(recall, 6)
    return {"precision": p, "recall": r, "f1": round(f1_score(p, r), 6)}


# --------------------------------------------------------------------------------------------------
# Report metrics
# --------------------------------------------------------------------------------------------------
def people_employers_metrics(
    records: pd.DataFrame,
    tables: EmployerTables,
    link: PeopleLinkSettings,
    labels: dict[str, str],
    notes: list[str] | None = None,
    accuracy: dict | None = None,
    id_column: str = "pace_id",
) -> dict:
    """The ``people_employers`` metrics (aggregates only; counts suppressed with
    ``link.small_count_threshold``
    where they describe people per employer)."""
    k = link.small_count_threshold
    how = records["how"].value_counts()
    links = person_employers(records, id_column)
    per_person = links.groupby(id_column).size() if len(links) else pd.Series(dtype=np.int64)
    frame = employer_people_frame(tables, k)
    worked = tables.worked.astype(np.int64)
    together = (worked.T @ worked) if len(worked) else pd.DataFrame()
    parts = list(worked.columns)
    doc = {
        "settings": {
            "similarity_threshold": link.similarity_threshold,
            "first_word_similarity": link.first_word_similarity,
            "max_word_employers": link.max_word_employers,
            "small_count_threshold": k,
            "person_field": link.person_field,
            "postcode_fields": list(link.postcode_fields),
        },
        "records": {"person_records": int(len(records)), "by_how": {h: int(how.get(h, 0)) for h in HOWS}},
        "persons": {
            "persons": int(records[id_column].nunique()),
            "with_employer": int(len(per_person)),
            "with_several_employers": int((per_person > 1).sum()),
        },
        "employers": {
            "employers": int(len(tables.distinct)),
            "with_people": int((tables.distinct > 0).sum()),
            "partners_per_employer": {
                str(n): int(c) for n, c in tables.worked.sum(axis=1).value_counts().sort_index().items()
            },
        },
        "per_employer": {
            "columns": list(frame.columns),
            "rows": frame.head(link.top_employers).to_numpy().tolist(),
            "total_rows": int(len(frame)),
        },
        "partners_together": {
            "partners": parts,
            "matrix": [[suppress_small(int(together.loc[a, b]), k) for b in parts] for a in parts],
        },
        "labels": labels,
    }
    if notes:
        doc["notes"] = list(notes)
    if accuracy is not None:
        doc["accuracy"] = accuracy
    return doc


# --------------------------------------------------------------------------------------------------
# The whole step (the ``pace-linkage employers`` verb)
# --------------------------------------------------------------------------------------------------
def _read_clusters(run_dir: Path, id_column: str, what: str) -> pd.DataFrame:
    path = Path(run_dir) / "clusters.csv"
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False)
    except FileNotFoundError:
        raise InputError(f"{path}: not found (is {run_dir} a finished {what} run?)") from None
    if id_column not in df.columns or SOURCE not in df.columns or RECORD_ID not in df.columns:
        raise InputError(
            f"{path}: lacks source, record_id or {id_column} (is it a {what} run of this config?)"
        )
    return df


def _read_notes(run_dir: Path) -> list[str]:
    try:
        doc = json.loads((Path(run_dir) / "metrics.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    return [str(n) for n in doc.get("report_notes") or []]


def link_people_to_employers(
    person_cfg: PaceConfig,
    emp_cfg: PaceConfig,
    people_run: Path,
    employer_run: Path,
    person_records: pd.DataFrame,
    employer_records: pd.DataFrame,
    person_truth: pd.DataFrame | None = None,
    employer_truth: pd.DataFrame | None = None,
) -> dict:
    """Read both runs' clusters, link the person records to the employers, and return the frames and metrics:
    ``records`` (person records with ``pace_id``, ``pace_employer_id``, ``how``, ``score``), ``links`` (see
    :func:`person_employers`), ``employer_people`` (:func:`employer_people_frame`) and ``metrics``.

    ``person_records`` are the people's extracts read with
    :func:`~pace_linkage.study.employers.person_read_config` (the employer and postcode fields only);
    ``employer_records`` the employers' extracts read with ``emp_cfg``, both as the pipeline reads them
    (:func:`pace_linkage.pipeline.read_sources`)."""
    link = people_link_settings(emp_cfg)
    p_clusters = _read_clusters(people_run, person_cfg.id_column, "person")
    e_clusters = _read_clusters(employer_run, emp_cfg.id_column, "employer")
    postcodes = [f for f in link.postcode_fields if f in person_read_config(person_cfg, link).fields]
    people = org_keys(person_records, link.person_field, postcodes)
    matches = match_employers(people, employer_keys(employer_records, e_clusters, emp_cfg), link)
    # person records without an employer name were not read in (no identifying field): they are the rest
    rest = p_clusters[[SOURCE, RECORD_ID]].merge(matches[[SOURCE, RECORD_ID]], how="left", indicator=True)
    rest = rest[rest["_merge"] == "left_only"][[SOURCE, RECORD_ID]]
    matches = pd.concat(
        [matches, rest.assign(**{EMPLOYER_ID: None, "how": NO_EMPLOYER, "score": 0.0})], ignore_index=True
    )
    records = with_person_ids(matches, p_clusters, person_cfg.id_column)
    if emp_cfg.id_column != EMPLOYER_ID:
        e_clusters = e_clusters.rename(columns={emp_cfg.id_column: EMPLOYER_ID})
    person_sources = [s.name for s in person_cfg.sources.items if link.person_field in s.columns]
    tables = employer_tables(records, e_clusters, person_sources, id_column=person_cfg.id_column)
    labels = {s.name: s.label or s.name for s in person_cfg.sources.items if s.name in person_sources}
    labels.update(
        {f"{s.name} (employers)": f"{s.label or s.name}, employer records" for s in emp_cfg.sources.items}
    )
    accuracy = None
    if person_truth is not None and employer_truth is not None:
        accuracy = link_accuracy(
            records, e_clusters, person_truth, employer_truth, id_column=person_cfg.id_column
        )
    metrics = people_employers_metrics(
        records, tables, link, labels, _read_notes(employer_run), accuracy, person_cfg.id_column
    )
    return {
        "records": records,
        "links": person_employers(records, person_cfg.id_column),
        "employer_people": employer_people_frame(tables, link.small_count_threshold),
        "metrics": metrics,
    }


def read_employer_truth(path: Path) -> pd.DataFrame:
    """A truth CSV with source, record_id, employer_id (text), e.g. employer_truth.csv or
    person_employer_truth.csv (read as every truth file is: :func:`pace_linkage.evaluate.metrics.load_truth`)."""
    return load_truth(path, id_column="employer_id").rename(columns={"person_id": "employer_id"})


def write_outputs(result: dict, out_dir: Path, title: str, run_id: str | None = None) -> Path:
    """``person_employers.csv``, ``person_employer_records.csv``, ``employer_people.csv``,
    ``people_employers.json`` and ``people_employers.html`` into ``out_dir`` (staged, then published with a
    manifest, like a run). Ids and counts only: no name is written."""
    metrics = {
        "run": {"entity": "person", "version": VERSION, "step": "people -> employers"},
        "people_employers": result["metrics"],
    }
    html = render_report(metrics, title=title, sections=[*CORE_SECTIONS, *EMPLOYERS.sections])
    writer = RunWriter(Path(out_dir), run_id)
    try:
        writer.write_csv("person_employers.csv", result["links"])
        writer.write_csv("person_employer_records.csv", result["records"])
        writer.write_csv("employer_people.csv", result["employer_people"])
        writer.write_json("people_employers.json", result["metrics"])
        writer.write_text("people_employers.html", html)
        return writer.publish({"version": VERSION, "kind": "employers"})
    except BaseException:
        writer.discard()
        raise


class PeopleEmployers(Feature):
    """People -> employers: its section of a report page (the step itself runs after both linkages)."""

    name = "employers"
    sections = (PEOPLE_EMPLOYERS,)


EMPLOYERS = PeopleEmployers()

__all__ = [
    "EMPLOYERS",
    "SUPPRESSED",
    "EmployerTables",
    "PeopleEmployers",
    "employer_people_frame",
    "employer_tables",
    "link_accuracy",
    "link_people_to_employers",
    "people_employers_metrics",
    "person_employers",
    "read_employer_truth",
    "with_person_ids",
    "write_outputs",
]

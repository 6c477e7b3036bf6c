"""People -> employers: the employer each person record names, and what that shows per employer.

After a person run (``config/pace.yaml``, ids ``pace_id``) and an employer run (``config/employer.yaml``,
ids ``pace_employer_id``), each person record's employer -- the free text a partner wrote, in the person
field ``people_link.person_field`` -- is normalised as a business name
(:mod:`pace_linkage.normalise.organisation`) and matched to the employers' records:

1. Candidates, by level: the employer record's name equals the person's (``exact_name``); one's trading
   name equals the other's name (``trading_name``); the core names are equal (``core_name``); or, for a name
   none of these finds, the core names share a word, their ``token_sort_ratio`` / 100 is at least
   ``similarity_threshold`` and their first words' Jaro-Winkler similarity at least
   ``first_word_similarity`` (``similar_name``: a typo, a word more or less, but the distinctive first word
   agrees; a token-set score is not used as it calls any name inside a longer one a perfect match). A word
   held by more than ``max_word_employers`` employers proposes no candidate (it would propose half the
   register), so a name made only of such words needs one of the exact levels.
2. Each employer keeps its best candidate, ranked by: the tier (the same name *and* the same legal form --
   a registered name, unique in the register -- before any other equal name, before a similar name); the
   legal form not contradicting (two different forms are two companies; a form missing on one side, as
   partners often leave it off, is no evidence either way); the postcode area (the person record's first
   ``postcode_fields`` value -- the employer's postcode where the partner records it, else the person's home
   postcode -- agreeing with the area of one of the employer's sites); the level; the
   ``token_sort_ratio`` of the cores.
3. The best employer wins. Two employers tied on all of these is ``ambiguous``: nothing is linked rather
   than a guess. A record that names no employer is ``no_employer_recorded``; one with no candidate
   ``no_match``.

Each person (``pace_id``) then carries every employer any of its records was linked to, with the partners
whose records named it (:func:`person_employers`). Per employer the report counts the affected people each
partner saw and which partners -- employer-facing and person-facing -- worked with the same employer
(:func:`people_employers_metrics`). With truth, :func:`link_accuracy` measures the links against the
synthetic people -> employer truth.

Everything works on whole columns: distinct names are matched once (a name written by hundreds of partners'
records is one row), candidate pairs come from joins, token-set scores from ``rapidfuzz.process.cpdist``.
Nothing here logs or raises with a value: business names stay in the frames.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from rapidfuzz import fuzz, process
from rapidfuzz.distance import JaroWinkler

from pace_linkage.config import FieldSpec, PaceConfig, PeopleLinkSettings
from pace_linkage.errors import ConfigError, InputError
from pace_linkage.redact import SUPPRESSED, suppress_small, suppress_table
from pace_linkage.schema import RECORD_ID, SOURCE

EMPLOYER_ID = "pace_employer_id"
KEYS = ["name", "suffix", "trading", "core", "area"]  # the org-name columns both sides are reduced to
NAME_KEYS = KEYS[:4]
LEVELS = {"exact_name": 4, "trading_name": 3, "core_name": 2, "similar_name": 1}
NO_EMPLOYER = "no_employer_recorded"
NO_MATCH = "no_match"
AMBIGUOUS = "ambiguous"
HOWS = [*LEVELS, AMBIGUOUS, NO_MATCH, NO_EMPLOYER]


# --------------------------------------------------------------------------------------------------
# Configs: what to read
# --------------------------------------------------------------------------------------------------
def people_link_settings(emp_cfg: PaceConfig) -> PeopleLinkSettings:
    """The employer config's ``people_link`` settings (defaults if it has none); ConfigError unless the config
    is an employer config with an ``org_name`` field."""
    where = emp_cfg.config_file or "employer config"
    if emp_cfg.entity != "employer":
        raise ConfigError(f"{where}: entity: the employer side of people -> employers needs entity: employer")
    if _field_of_kind(emp_cfg, "org_name") is None:
        raise ConfigError(f"{where}: fields: no field of kind org_name (the employer's name)")
    return emp_cfg.people_link or PeopleLinkSettings()


def _field_of_kind(cfg: PaceConfig, kind: str) -> str | None:
    return next((f for f, spec in cfg.fields.items() if spec.kind == kind), None)


def person_read_config(person_cfg: PaceConfig, link: PeopleLinkSettings) -> PaceConfig:
    """The person config narrowed to what the link needs: the employer field (read as ``org_name``) and the
    postcode fields that exist. Sources keep their mapping of those fields only, so no other column of the
    people's extracts is read; sharing agreements still apply on top."""
    where = person_cfg.config_file or "person config"
    if link.person_field not in person_cfg.fields:
        raise ConfigError(f"{where}: fields: no field '{link.person_field}' (people_link.person_field)")
    postcodes = [
        f for f in link.postcode_fields if f in person_cfg.fields and person_cfg.fields[f].kind == "postcode"
    ]
    fields = {
        link.person_field: FieldSpec(
            kind="org_name", placeholders=person_cfg.fields[link.person_field].placeholders
        ),
        **{f: person_cfg.fields[f] for f in postcodes},
    }
    cfg = person_cfg.model_copy(deep=True)
    cfg.fields = fields
    cfg.identifying_fields = [link.person_field, *postcodes]
    for src in cfg.sources.items:
        src.columns = {f: c for f, c in src.columns.items() if f in fields}
    return cfg


def org_keys(records: pd.DataFrame, name_field: str, postcode_fields: list[str]) -> pd.DataFrame:
    """``source, record_id`` and :data:`KEYS` from normalised records: the ``org_name`` columns of
    ``name_field`` and the postcode area of the first of ``postcode_fields`` with a value."""
    out = pd.DataFrame(
        {SOURCE: records[SOURCE].astype(str).to_numpy(), RECORD_ID: records[RECORD_ID].astype(str).to_numpy()}
    )
    for key, suffix in zip(KEYS[:4], ["", "_suffix", "_trading", "_core"], strict=True):
        out[key] = (
            records[name_field + suffix]
            .astype(object)
            .where(records[name_field + suffix].notna(), None)
            .to_numpy()
        )
    area = pd.Series(None, index=records.index, dtype=object)
    for f in postcode_fields:
        col = f + "_area"
        if col in records.columns:
            area = area.where(area.notna(), records[col].astype(object).where(records[col].notna(), None))
    out["area"] = area.to_numpy()
    return out


# --------------------------------------------------------------------------------------------------
# Matching
# --------------------------------------------------------------------------------------------------
def _distinct(frame: pd.DataFrame, cols: list[str]) -> tuple[pd.DataFrame, np.ndarray]:
    """(distinct rows of ``cols`` in first-seen order, the distinct row of each input row)."""
    codes = frame.groupby(cols, dropna=False, sort=False).ngroup().to_numpy()
    first = pd.Series(np.arange(len(frame))).groupby(codes).min().to_numpy()
    return frame.iloc[first][cols].reset_index(drop=True), codes


def _pairs_on(p: pd.DataFrame, e: pd.DataFrame, left: str, right: str, level: str) -> pd.DataFrame:
    """Candidate (p, e) pairs whose ``left`` (person) equals ``right`` (employer); both non-null."""
    a = p[[left]].dropna().rename(columns={left: "k"}).assign(p=lambda d: d.index)
    b = e[[right]].dropna().rename(columns={right: "k"}).assign(e=lambda d: d.index)
    pairs = a.merge(b, on="k", how="inner")[["p", "e"]]
    return pairs.assign(level=LEVELS[level])


def _word_pairs(p: pd.DataFrame, e: pd.DataFrame, max_employers: int) -> pd.DataFrame:
    """Candidate (p, e) pairs whose core names share a word held by at most ``max_employers`` employers."""
    pw = p["core"].dropna().str.split().explode().rename("w").reset_index().rename(columns={"index": "p"})
    ew = e["core"].dropna().str.split().explode().rename("w").reset_index().rename(columns={"index": "e"})
    ew = ew.drop_duplicates()
    spread = ew.merge(e[["eid"]], left_on="e", right_index=True).groupby("w")["eid"].nunique()
    ew = ew[ew["w"].map(spread).le(max_employers).to_numpy()]
    pairs = pw.drop_duplicates().merge(ew, on="w", how="inner")[["p", "e"]].drop_duplicates()
    return pairs.assign(level=LEVELS["similar_name"])


def match_employers(people: pd.DataFrame, employers: pd.DataFrame, link: PeopleLinkSettings) -> pd.DataFrame:
    """Link person records to employers (module rules).

    ``people``: ``source, record_id`` and :data:`KEYS`, one row per person record; ``employers``: ``eid`` and
    :data:`KEYS`, one row per employer record (or distinct name). Returns ``source, record_id,
    pace_employer_id`` (null when none), ``how`` (one of :data:`HOWS`) and ``score`` (the token-set score of
    the cores, 0 when none), aligned with ``people``.
    """
    n, n_code = _distinct(people, NAME_KEYS)  # each distinct name once, wherever and however often written
    e, _ = _distinct(employers, ["eid", *KEYS])
    exact = pd.concat(
        [
            _pairs_on(n, e, "name", "name", "exact_name"),
            _pairs_on(n, e, "name", "trading", "trading_name"),
            _pairs_on(n, e, "trading", "name", "trading_name"),
            _pairs_on(n, e, "core", "core", "core_name"),
        ],
        ignore_index=True,
    )
    # shared words only for the names no exact level found (most are written as the employer writes them)
    words = _word_pairs(n[~n.index.isin(exact["p"])], e, link.max_word_employers)
    cand = pd.concat([exact, words], ignore_index=True)
    cand = cand.sort_values(["p", "e", "level"], ascending=[True, True, False], kind="stable")
    cand = cand.drop_duplicates(["p", "e"]).reset_index(drop=True)
    pl, el = cand["p"].to_numpy(np.int64), cand["e"].to_numpy(np.int64)
    pc, ec = n["core"].to_numpy(dtype=object), e["core"].to_numpy(dtype=object)
    score = process.cpdist(pc[pl], ec[el], scorer=fuzz.token_sort_ratio, workers=-1) if len(cand) else []
    cand["score"] = np.asarray(score, dtype=np.float64) / 100
    pf = n["core"].str.split().str[0].to_numpy(dtype=object)
    ef = e["core"].str.split().str[0].to_numpy(dtype=object)
    first = process.cpdist(pf[pl], ef[el], scorer=JaroWinkler.similarity, workers=-1) if len(cand) else []
    similar = (cand["score"].to_numpy() >= link.similarity_threshold) & (
        np.asarray(first, dtype=np.float64) >= link.first_word_similarity
    )
    cand = cand[(cand["level"] > LEVELS["similar_name"]).to_numpy() | similar]
    ps, es = n["suffix"].to_numpy(dtype=object)[cand["p"]], e["suffix"].to_numpy(dtype=object)[cand["e"]]
    known = pd.notna(ps) & pd.notna(es)
    same_form = known & (ps == es)
    form = (~known | same_form).astype(np.int8)  # 0: two different legal forms (two different companies)
    level = cand["level"].to_numpy()
    tier = np.where(
        (level == LEVELS["exact_name"]) & same_form, 3, np.where(level > LEVELS["similar_name"], 2, 1)
    )
    cand = cand.assign(form=form, tier=tier)

    # the postcode area breaks ties per (name, area) combination
    combos, c_code = _distinct(
        pd.DataFrame({"name": n_code, "area": people["area"].to_numpy(dtype=object)}), ["name", "area"]
    )
    cc = combos.rename(columns={"name": "n", "area": "p_area"}).rename_axis("c").reset_index()
    cand = cc.merge(cand.rename(columns={"p": "n"}), on="n", how="inner")
    pa, ea = cand["p_area"].to_numpy(dtype=object), e["area"].to_numpy(dtype=object)[cand["e"]]
    cand = cand.assign(
        area=(pd.notna(pa) & (pa == ea)).astype(np.int8), eid=e["eid"].to_numpy(dtype=object)[cand["e"]]
    )
    best = _best_per_name(cand.rename(columns={"c": "p"}))

    eid = np.full(len(combos), None, dtype=object)
    how = np.full(len(combos), NO_MATCH, dtype=object)
    sc = np.zeros(len(combos))
    how[n["name"].isna().to_numpy()[combos["name"].to_numpy(np.int64)]] = NO_EMPLOYER
    if len(best):
        idx = best["p"].to_numpy(np.int64)
        tied = best["tied"].to_numpy(bool)
        names = {v: k for k, v in LEVELS.items()}
        how[idx] = np.where(tied, AMBIGUOUS, [names[v] for v in best["level"]])
        eid[idx] = np.where(tied, None, best["eid"].to_numpy(dtype=object))
        sc[idx] = best["score"].to_numpy()
    p_code = c_code
    return pd.DataFrame(
        {
            SOURCE: people[SOURCE].to_numpy(),
            RECORD_ID: people[RECORD_ID].to_numpy(),
            EMPLOYER_ID: eid[p_code],
            "how": how[p_code],
            "score": np.round(sc[p_code], 6),
        }
    )


def _best_per_name(cand: pd.DataFrame) -> pd.DataFrame:
    """Per person name and area ``p``: the best employer (module rule 2) and whether another employer ties
    with it on every criterion."""
    if cand.empty:
        return pd.DataFrame(columns=["p", "eid", "level", "score", "tied"])
    rank = ["tier", "form", "area", "level", "score"]
    c = cand.sort_values(
        ["p", *rank, "eid"], ascending=[True, False, False, False, False, False, True], kind="stable"
    )
    c = c.drop_duplicates(["p", "eid"])  # an employer's best candidate (it may hold several names)
    first = ~c["p"].duplicated().to_numpy()
    top = c[first].reset_index(drop=True)
    second = c[~first].drop_duplicates("p").set_index("p")
    runner = second.reindex(top["p"])[rank].to_numpy(dtype=np.float64)
    tied = (runner == top[rank].to_numpy(dtype=np.float64)).all(axis=1)
    return top.assign(tied=tied)[["p", "eid", "level", "score", "tied"]]


def employer_keys(records: pd.DataFrame, clusters: pd.DataFrame, emp_cfg: PaceConfig) -> pd.DataFrame:
    """``eid`` and :data:`KEYS` per employer record (normalised by the employer config, joined to the employer
    run's clusters on source and record id; records the run did not cluster are left out)."""
    name_field = _field_of_kind(emp_cfg, "org_name")
    pc = _field_of_kind(emp_cfg, "postcode")
    keys = org_keys(records, name_field, [pc] if pc else [])
    ids = clusters[[SOURCE, RECORD_ID, emp_cfg.id_column]].astype(str)
    out = keys.merge(ids, on=[SOURCE, RECORD_ID], how="inner").rename(columns={emp_cfg.id_column: "eid"})
    return out[["eid", *KEYS]]


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
    rec.update(_prf(rec["right"], rec["linked"], rec["linkable"]))

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
    per.update(
        {
            "precision": _ratio(per["right"], per["links"]),
            "recall": _ratio(per["persons_found"], per["linkable"]),
        }
    )
    per["f1"] = _f1(per["precision"], per["recall"])
    return {"records": rec, "persons": per}


def _ratio(a: int, b: int) -> float:
    return round(a / b, 6) if b else 1.0


def _f1(p: float, r: float) -> float:
    return round(2 * p * r / (p + r), 6) if p + r else 0.0


def _prf(right: int, linked: int, linkable: int) -> dict:
    p, r = _ratio(right, linked), _ratio(right, linkable)
    return {"precision": p, "recall": r, "f1": _f1(p, r)}


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
    import json

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
    people_extracts: Path,
    employer_extracts: Path,
    person_truth: pd.DataFrame | None = None,
    employer_truth: pd.DataFrame | None = None,
) -> dict:
    """Read both runs' clusters and the names in both sets of extracts, link, and return the frames and
    metrics:
    ``records`` (person records with ``pace_id``, ``pace_employer_id``, ``how``, ``score``), ``links`` (see
    :func:`person_employers`), ``employer_people`` (:func:`employer_people_frame`) and ``metrics``."""
    from pace_linkage.evaluate.review import normalised_records

    link = people_link_settings(emp_cfg)
    p_clusters = _read_clusters(people_run, person_cfg.id_column, "person")
    e_clusters = _read_clusters(employer_run, emp_cfg.id_column, "employer")
    p_cfg = person_read_config(person_cfg, link)
    p_rec = normalised_records(p_cfg, people_extracts)
    e_rec = normalised_records(emp_cfg, employer_extracts)
    people = org_keys(p_rec, link.person_field, [f for f in link.postcode_fields if f in p_cfg.fields])
    matches = match_employers(people, employer_keys(e_rec, e_clusters, emp_cfg), link)
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
    person_employer_truth.csv."""
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    except FileNotFoundError:
        raise InputError(f"{path}: truth file not found") from None
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: truth file cannot be read as CSV ({type(exc).__name__})") from None
    missing = [c for c in (SOURCE, RECORD_ID, "employer_id") if c not in df.columns]
    if missing:
        raise InputError(f"{path}: truth file lacks column(s) {', '.join(missing)}")
    return df[[SOURCE, RECORD_ID, "employer_id"]]


def write_outputs(result: dict, out_dir: Path, title: str, run_id: str | None = None) -> Path:
    """``person_employers.csv``, ``person_employer_records.csv``, ``employer_people.csv``,
    ``people_employers.json`` and ``people_employers.html`` into ``out_dir`` (staged, then published with a
    manifest, like a run). Ids and counts only: no name is written."""
    from pace_linkage import __version__
    from pace_linkage.report import render_report
    from pace_linkage.store.outputs import RunWriter

    metrics = {
        "run": {"entity": "person", "version": __version__, "step": "people -> employers"},
        "people_employers": result["metrics"],
    }
    html = render_report(metrics, title=title)
    writer = RunWriter(Path(out_dir), run_id)
    try:
        writer.write_csv("person_employers.csv", result["links"])
        writer.write_csv("person_employer_records.csv", result["records"])
        writer.write_csv("employer_people.csv", result["employer_people"])
        writer.write_json("people_employers.json", result["metrics"])
        writer.write_text("people_employers.html", html)
        return writer.publish({"version": __version__})
    except BaseException:
        writer.discard()
        raise


__all__ = [
    "EMPLOYER_ID",
    "HOWS",
    "KEYS",
    "LEVELS",
    "EmployerTables",
    "SUPPRESSED",
    "employer_keys",
    "employer_people_frame",
    "employer_tables",
    "link_accuracy",
    "link_people_to_employers",
    "match_employers",
    "org_keys",
    "people_employers_metrics",
    "people_link_settings",
    "person_employers",
    "person_read_config",
    "read_employer_truth",
    "with_person_ids",
    "write_outputs",
]

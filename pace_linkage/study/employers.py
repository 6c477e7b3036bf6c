"""People -> employers: the employer each person record names (what that shows per employer is in
:mod:`pace_linkage.study.employer_links`).

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
whose records named it (:func:`pace_linkage.study.employer_links.person_employers`). Per employer the report
counts the affected people each partner saw and which partners -- employer-facing and person-facing -- worked
with the same employer (:func:`pace_linkage.study.employer_links.people_employers_metrics`). With truth,
:func:`pace_linkage.study.employer_links.link_accuracy` measures the links against the synthetic people ->
employer truth.

Everything works on whole columns: distinct names are matched once (a name written by hundreds of partners'
records is one row), candidate pairs come from joins, token-set scores from ``rapidfuzz.process.cpdist``.
Nothing here logs or raises with a value: business names stay in the frames.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from rapidfuzz import fuzz, process
from rapidfuzz.distance import JaroWinkler

from pace_linkage.config import FieldSpec, PaceConfig, PeopleLinkSettings
from pace_linkage.errors import ConfigError
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


__all__ = ["AMBIGUOUS", "EMPLOYER_ID", "HOWS", "KEYS", "LEVELS", "NAME_KEYS", "NO_EMPLOYER", "NO_MATCH", "employer_keys",
           "match_employers", "org_keys", "people_link_settings", "person_read_config"]

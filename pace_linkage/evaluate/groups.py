"""Who gets linked less: linkage rate, recall and missed links by group of records.

National linkage studies find that some groups (young people, some ethnic groups, people who move)
are linked least; a centralised PACE id built on such a linkage would under-serve them. This module
breaks the linkage down by group so an analyst can see it. Everything is a groupby over whole
columns: no loop over records or pairs.

Groups (:func:`record_groups`), each a text label per record:

* ``partner``: the record's source.
* ``sex``: ``female`` / ``male`` / ``X`` from the first field of kind ``sex``; ``unknown`` if null.
* ``age_band``: ``16-24``, ``25-34``, ``35-49``, ``50-64``, ``65+`` (``under 16`` for the implausible
  rest) from the first field of kind ``dob``, aged at ``reference_date`` (the config's, or today).
* ``council_area``: from the first field of kind ``postcode`` via ``pace_linkage/data/council_areas.csv``
  (postcode district, else postcode area; an *approximate* table, see the file's header);
  ``outside Scotland`` for other areas, ``unknown`` if null.
* ``moved`` (with truth only): ``moved`` when the record's person has records at two or more
  different (normalised) postcodes, ``did not move`` when at one, ``unknown`` when none.

Figures per group (:func:`linked_less`):

* ``linkage_rate``: share of the group's records whose cluster holds at least one other record.
* ``estimated_missed_links`` (no truth needed): the sum of match probabilities of candidate pairs
  below the threshold, attributed to the groups of both records (once when both are in one group).
* with truth, at cluster level as in :func:`pace_linkage.evaluate.quality.pairwise_metrics`: ``true_pairs``
  (true matching pairs with at least one record in the group), ``found_pairs`` (those whose two
  records share a cluster), ``recall`` = found / true (None with no true pair) and ``missed_links`` =
  true - found. Counted from group sizes: the pairs seen from the group's records, less the pairs
  with both records in the group (otherwise counted twice).
"""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass
from importlib import resources

import numpy as np
import pandas as pd

from pace_linkage.config import PaceConfig
from pace_linkage.counting import choose2
from pace_linkage.engine.blocking import within_group_pairs
from pace_linkage.engine.columns import ColumnCache
from pace_linkage.engine.linker import positional
from pace_linkage.evaluate.quality import PersonCodes, group_codes, person_codes
from pace_linkage.schema import LEFT, RIGHT, SOURCE

UNKNOWN = "unknown"
OUTSIDE = "outside Scotland"
AGE_BANDS: list[tuple[int, int | None, str]] = [
    (16, 24, "16-24"), (25, 34, "25-34"), (35, 49, "35-49"), (50, 64, "50-64"), (65, None, "65+")]
UNDER_16 = "under 16"
SEX_LABELS = {"F": "female", "M": "male", "X": "X"}
GROUP_KINDS = ["partner", "sex", "age_band", "council_area", "moved"]
TRUE_PAIRS_PER_RECORD = 4  # the true pairs are listed (for the recall per group) when at most this many a record


# --------------------------------------------------------------------------------------------------
# Group labels
# --------------------------------------------------------------------------------------------------
def _field_of_kind(cfg: PaceConfig, kind: str, records: pd.DataFrame) -> str | None:
    """The first configured field of ``kind`` present in the records (declaration order)."""
    return next((f for f, spec in cfg.fields.items() if spec.kind == kind and f in records.columns), None)


def coded(records: pd.DataFrame, column: str, cache: ColumnCache | None) -> tuple[np.ndarray, pd.Series] | None:
    """A text column's codes (``-1`` = null) and distinct values (of the column's type), as ``pd.factorize``
    gives them, read from ``cache`` when it codes these very records; None otherwise."""
    if cache is None or cache.records is not records or not isinstance(records[column].dtype, pd.StringDtype):
        return None
    return cache.codes(column), pd.Series(cache.uniques(column), dtype=records[column].dtype)


def age_band(dob: pd.Series, reference: dt.date, codes: tuple[np.ndarray, pd.Series] | None = None) -> pd.Series:
    """Age band at ``reference`` of ISO birth dates (text or dates); null or unparseable -> ``unknown``.
    ``codes``: the column's :func:`coded` codes and distinct values, if known.

    Age is completed years: the birthday must have been reached (29 Feb birthdays count on 1 Mar in
    other years)."""
    codes, uniques = codes if codes is not None else pd.factorize(dob, use_na_sentinel=True)  # each date parsed once
    labels = np.append(_age_bands(pd.Series(uniques), reference), UNKNOWN)  # code -1 (null) -> last slot
    return pd.Series(labels[codes], index=dob.index, dtype=object)


def _age_bands(dob: pd.Series, reference: dt.date) -> np.ndarray:
    d = pd.to_datetime(dob, errors="coerce", format="ISO8601")
    ok = d.notna().to_numpy()
    years = reference.year - d.dt.year.to_numpy(dtype=float, na_value=np.nan)
    before = (d.dt.month.to_numpy(dtype=float, na_value=np.nan) * 100
              + d.dt.day.to_numpy(dtype=float, na_value=np.nan)) > reference.month * 100 + reference.day
    age = years - before.astype(float)
    out = np.full(len(dob), UNKNOWN, dtype=object)
    out[ok & (age < AGE_BANDS[0][0])] = UNDER_16
    for lo, hi, name in AGE_BANDS:
        sel = ok & (age >= lo) & ((age <= hi) if hi is not None else True)
        out[sel] = name
    return out


@functools.cache
def council_table() -> dict[str, str]:
    """Postcode district / area -> council area, from ``pace_linkage/data/council_areas.csv``."""
    with resources.files("pace_linkage").joinpath("data/council_areas.csv").open(encoding="utf-8") as fh:
        t = pd.read_csv(fh, comment="#", dtype=str, keep_default_na=False)
    return dict(zip(t["prefix"].str.strip().str.upper(), t["council_area"].str.strip(), strict=True))


def council_area(postcode: pd.Series, codes: tuple[np.ndarray, pd.Series] | None = None) -> pd.Series:
    """Council area of normalised postcodes (``OUTWARD INWARD``): by district (the outward code),
    else by area (its leading letters); ``outside Scotland`` for other areas, ``unknown`` if null.
    ``codes``: the column's :func:`coded` codes and distinct values, if known."""
    table = council_table()
    codes, uniques = codes if codes is not None else pd.factorize(postcode, use_na_sentinel=True)  # each looked up once
    outward = pd.Series(np.asarray(uniques, dtype=object)).astype(str).str.strip().str.upper().str.split(" ").str[0]
    area = outward.str.extract(r"^([A-Z]{1,2})", expand=False)
    by_district = outward.map(table)
    out = by_district.where(by_district.notna(), area.map(table))
    out = out.where(out.notna(), OUTSIDE).where(outward != "", UNKNOWN)
    labels = np.append(out.to_numpy(dtype=object), UNKNOWN)  # code -1 (null) -> last slot
    return pd.Series(labels[codes], index=postcode.index, dtype=object)


def moved(person: np.ndarray, postcode: pd.Series, codes: np.ndarray | None = None) -> pd.Series:
    """Per record: ``moved`` when its person has records at >= 2 distinct non-null postcodes,
    ``did not move`` at exactly one, ``unknown`` at none. ``codes``: the postcodes' codes, if known."""
    if codes is None:
        codes = pd.factorize(pd.Series(postcode.to_numpy(), dtype=object), use_na_sentinel=True)[0]
    code = codes.astype(np.int64, copy=False)
    person = np.asarray(person, dtype=np.int64)
    seen = code >= 0
    width = int(code.max()) + 1 if seen.any() else 1
    both = np.sort(person[seen] * width + code[seen])
    person_of = both[np.r_[True, both[1:] != both[:-1]]] // width if len(both) else both  # one per (person, postcode)
    k = np.bincount(person_of, minlength=int(person.max()) + 1 if len(person) else 0)[person]
    return pd.Series(np.where(k >= 2, "moved", np.where(k == 1, "did not move", UNKNOWN)), index=postcode.index,
                     dtype=object)


def record_groups(records: pd.DataFrame, cfg: PaceConfig, person: np.ndarray | None = None,
                  reference_date: dt.date | None = None, cache: ColumnCache | None = None) -> dict[str, pd.Series]:
    """Group label per record for each group kind the records allow (see the module docstring).
    ``person`` (aligned person codes from truth) adds ``moved``; ``cache``: the records' column codes, if
    derived already (each distinct value is then labelled once)."""
    ref = reference_date or cfg.reference_date or dt.date.today()
    out: dict[str, pd.Series] = {"partner": records[SOURCE].astype(str)}
    sex = _field_of_kind(cfg, "sex", records)
    if sex and (known := coded(records, sex, cache)) is not None:
        labels = np.array([SEX_LABELS.get(v, UNKNOWN) for v in known[1]] + [UNKNOWN], dtype=object)
        out["sex"] = pd.Series(labels[known[0]], index=records.index, dtype=object)  # code -1 (null) -> last
    elif sex:
        out["sex"] = records[sex].map(SEX_LABELS).where(records[sex].notna(), UNKNOWN).fillna(UNKNOWN).astype(object)
    dob = _field_of_kind(cfg, "dob", records)
    if dob:
        out["age_band"] = age_band(records[dob], ref, coded(records, dob, cache))
    pc = _field_of_kind(cfg, "postcode", records)
    if pc:
        known = coded(records, pc, cache)
        out["council_area"] = council_area(records[pc], known)
        if person is not None:
            out["moved"] = moved(person, records[pc], None if known is None else known[0])
    return out


# --------------------------------------------------------------------------------------------------
# Figures per group
# --------------------------------------------------------------------------------------------------
def _order(labels: list[str], kind: str) -> list[str]:
    """Display order: age bands in age order, sex F/M/X, otherwise alphabetical; unknown-like last."""
    last = {UNKNOWN: 2, OUTSIDE: 1}
    if kind == "age_band":
        rank = {UNDER_16: 0, **{name: i + 1 for i, (_, _, name) in enumerate(AGE_BANDS)}}
        return sorted(labels, key=lambda s: (last.get(s, 0), rank.get(s, 99), s))
    return sorted(labels, key=lambda s: (last.get(s, 0), s))


def _both_in_group(*codes: np.ndarray) -> np.ndarray:
    """Per group (last code array): sum of C(n, 2) over the joint groups of all code arrays."""
    frame = pd.DataFrame({f"c{i}": c for i, c in enumerate(codes)})
    sizes = frame.groupby(list(frame.columns), sort=False).size()
    g = sizes.index.get_level_values(-1).to_numpy(dtype=np.int64)
    return np.bincount(g, weights=choose2(sizes.to_numpy(dtype=np.int64)).astype(np.float64),
                       minlength=int(codes[-1].max()) + 1 if len(codes[-1]) else 0)


@dataclass
class RunLinks:
    """What every group kind's figures read of a run, derived once (no group in it): per record whether its
    cluster holds another record (``linked``, 0/1), the candidate pairs (``left``, ``right``: the run's own
    arrays, not copies) with their ``probability`` and whether each is below the threshold (``below``) and,
    with truth, the person codes with the other records of the same person (``true_end``) and of the same
    person and cluster (``found_end``), and the (cluster, person) codes (``joint``)."""

    linked: np.ndarray
    left: np.ndarray
    right: np.ndarray
    probability: np.ndarray
    below: np.ndarray
    person: np.ndarray | None = None
    joint: np.ndarray | None = None
    true_end: np.ndarray | None = None
    found_end: np.ndarray | None = None
    true_pairs: tuple[np.ndarray, np.ndarray] | None = None  # the pairs of records of one person, when few
    found: np.ndarray | None = None  # per such pair: its records share a cluster


def run_links(cluster: np.ndarray, left: np.ndarray, right: np.ndarray, probability: np.ndarray, threshold: float,
              person: np.ndarray | None = None) -> RunLinks:
    """The :class:`RunLinks` of aligned ``cluster`` (and ``person``) codes and the candidate pairs' record
    positions ``left``/``right`` with their ``probability``."""
    size = np.bincount(cluster)[cluster]
    below = probability < threshold
    out = RunLinks((size > 1).astype(np.float64), left, right, probability, below)
    if person is not None:
        out.person = person
        out.joint = group_codes(pd.Series(cluster * (int(person.max()) + 1) + person))
        out.true_end = (np.bincount(person)[person] - 1).astype(np.float64)
        out.found_end = (np.bincount(out.joint)[out.joint] - 1).astype(np.float64)
        total = int(out.true_end.sum()) // 2
        if total <= TRUE_PAIRS_PER_RECORD * len(person):  # listed once, read by every group kind
            out.true_pairs = within_group_pairs(person, "truth", total)
            out.found = cluster[out.true_pairs[0]] == cluster[out.true_pairs[1]]
    return out


def _both_in_group_pairs(links: RunLinks, g: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Per group: the true pairs with both records in it, and those of them in one cluster (what
    :func:`_both_in_group` counts from the person and the (cluster, person) codes), from the listed true
    pairs."""
    left, right = links.true_pairs
    gl = g[left]
    same = gl == g[right]
    both = np.bincount(gl[same], minlength=k).astype(np.float64)
    same &= links.found
    return both, np.bincount(gl[same], minlength=k).astype(np.float64)


def group_figures(group: pd.Series, cluster: np.ndarray, left: np.ndarray, right: np.ndarray,
                  probability: np.ndarray, threshold: float, person: np.ndarray | None = None,
                  kind: str = "") -> list[dict]:
    """One row per group label (see the module docstring); ``cluster`` and ``person`` are integer
    codes aligned with ``group``; ``left``/``right`` are the candidate pairs' record positions."""
    return figures_of(group, run_links(cluster, left, right, probability, threshold, person), kind)


def label_codes(group: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Each record's group as a code into the group labels, sorted."""
    g, labels = pd.factorize(group.to_numpy(dtype=object), sort=True)
    return g.astype(np.int64), np.asarray(labels, dtype=object)


def figures_of(group: pd.Series, links: RunLinks, kind: str = "",
               coded: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None) -> list[dict]:
    """:func:`group_figures` from the run's :class:`RunLinks` (derived once for every group kind). ``coded``:
    the group's :func:`label_codes` and its estimated missed links (:func:`_below_by_groups`), if made."""
    g, labels, est = coded if coded is not None else (*label_codes(group), None)
    k = len(labels)
    records = np.bincount(g, minlength=k)
    linked = np.bincount(g, weights=links.linked, minlength=k)
    if est is None:
        est = _below_by_groups([g.astype(np.min_scalar_type(max(k, 1)))], [k], links)[0]
    truth_cols: dict[str, np.ndarray] = {}
    if links.person is not None:
        if links.true_pairs is not None:
            both, both_found = _both_in_group_pairs(links, g, k)
        else:
            both, both_found = _both_in_group(links.person, g), _both_in_group(links.joint, g)
        true_pairs = np.bincount(g, weights=links.true_end, minlength=k) - both
        found = np.bincount(g, weights=links.found_end, minlength=k) - both_found
        truth_cols = {"true_pairs": np.rint(true_pairs), "found_pairs": np.rint(found)}
    rows = []
    for i in [list(labels).index(lab) for lab in _order(list(labels), kind)]:
        n, ln = int(records[i]), int(round(linked[i]))
        row = {"group": str(labels[i]), "records": n, "linked": ln, "linkage_rate": round(ln / n, 6) if n else None}
        if truth_cols:
            tp, fp_ = int(truth_cols["true_pairs"][i]), int(truth_cols["found_pairs"][i])
            row.update({"true_pairs": tp, "found_pairs": fp_, "recall": round(fp_ / tp, 6) if tp else None,
                        "missed_links": tp - fp_})
        row["estimated_missed_links"] = round(float(est[i]), 4)
        rows.append(row)
    return rows


BELOW_CHUNK = 1 << 20  # pairs read at a time by _below_by_group


def _below_by_group(g: np.ndarray, links: RunLinks, k: int) -> np.ndarray:
    """:func:`_below_by_groups` of one group kind."""
    return _below_by_groups([g], [k], links)[0]


def _below_by_groups(codes: list[np.ndarray], ks: list[int], links: RunLinks) -> list[np.ndarray]:
    """Per group kind (``codes``, each with its ``ks`` groups): the summed probability of the candidate pairs
    below the threshold with an end in the group (once for a pair with both ends in it), summed in pair order.
    A pair that does not count is binned at ``k`` (dropped after). The pairs are read a chunk at a time; each
    chunk is binned by ``np.bincount`` after the running sums so far (each bin starts at 0.0, adds its running
    sum exactly and then the chunk's probabilities in order), so each group sums the same probabilities in the
    same order as one ``np.bincount`` over all the pairs, with no array as long as the pairs. Every kind is
    summed in the same pass, each record's groups side by side (one look-up a pair end for all the kinds)."""
    if not codes:
        return []
    side = np.stack(codes, axis=1).astype(np.min_scalar_type(max(ks)))  # a record's group of every kind
    row = np.dtype((np.void, side.shape[1] * side.itemsize))  # ... as one value: a row looked up as one element
    rows = np.ascontiguousarray(side).view(row).ravel()
    sums = [[np.zeros(k + 1), np.zeros(k + 1)] for k in ks]  # per kind: by the left end, by the right end
    first = max(ks) + 1  # the running sums go first (a kind with fewer groups adds 0.0 to its dropped bin)
    bins, weights = np.empty(first + BELOW_CHUNK, dtype=np.intp), np.empty(first + BELOW_CHUNK)
    for a in range(0, len(links.left), BELOW_CHUNK):
        at = slice(a, a + BELOW_CHUNK)
        above = ~links.below[at]
        of_left, of_right = (rows[ends[at]].view(side.dtype).reshape(-1, side.shape[1])
                             for ends in (links.left, links.right))
        m = len(above)
        weights[first:first + m] = links.probability[at]
        chunk = bins[first:first + m]
        for j, k in enumerate(ks):
            gl, gr = of_left[:, j], of_right[:, j]
            for end in (0, 1):
                np.copyto(chunk, gl if end == 0 else gr)
                np.putmask(chunk, above if end == 0 else above | (gr == gl), k)
                bins[:first] = np.minimum(np.arange(first), k)
                weights[:first] = 0.0
                weights[:k + 1] = sums[j][end]
                sums[j][end] = np.bincount(bins[:first + m], weights=weights[:first + m], minlength=k + 1)
    return [left[:k] + right[:k] for k, (left, right) in zip(ks, sums, strict=True)]


def linked_less(records: pd.DataFrame, cluster_ids: pd.Series, pairs: pd.DataFrame, probability: np.ndarray,
                threshold: float, cfg: PaceConfig, truth: pd.DataFrame | PersonCodes | None = None,
                reference_date: dt.date | None = None, cache: ColumnCache | None = None,
                cluster: np.ndarray | None = None) -> dict[str, list[dict]]:
    """``{group_kind: [row per group]}`` for every group kind (see the module docstring).

    ``records`` and ``cluster_ids`` are aligned (position i is record i); ``pairs`` has ``l`` and ``r``
    positions, aligned with ``probability``. With ``truth`` (source, record_id, person_id) the rows
    also hold true pairs, recall and missed links, and the ``moved`` kind is added. ``cache``: the records'
    column codes, if derived already; ``cluster``: ``group_codes`` of ``cluster_ids``, if known."""
    recs = positional(records)  # no copy of a frame numbered 0..N-1 already
    if recs.empty:
        return {}
    person = person_codes(recs, truth)[0] if truth is not None else None
    groups = record_groups(recs, cfg, person, reference_date, cache if recs is records else None)
    if cluster is None:
        cluster = group_codes(pd.Series(np.asarray(cluster_ids, dtype=object)))
    left, right = pairs[LEFT].to_numpy(), pairs[RIGHT].to_numpy()  # positions as they are: no int64 copies
    prob = np.asarray(probability, dtype=np.float64)
    links = run_links(cluster, left, right, prob, threshold, person)
    coded = {kind: label_codes(labels) for kind, labels in groups.items()}
    narrow = [g.astype(np.min_scalar_type(max(len(labels), 1))) for g, labels in coded.values()]
    est = _below_by_groups(narrow, [len(labels) for _, labels in coded.values()], links)  # one pass, every kind
    return {kind: figures_of(groups[kind], links, kind, (*coded[kind], e))
            for kind, e in zip(coded, est, strict=True)}


__all__ = ["AGE_BANDS", "GROUP_KINDS", "RunLinks", "age_band", "council_area", "council_table", "figures_of",
           "group_figures", "linked_less", "moved", "record_groups", "run_links"]

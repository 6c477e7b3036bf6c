"""Blocking: choose the candidate record pairs that the model will compare.

Rules (:class:`~pace_linkage.engine.settings.BlockingRule`) are applied in order and their pairs are unioned:

Each rule's ``on`` is first turned into key columns (:func:`pace_linkage.engine.keys.key_frame`: a column as
it is, or a transform of it -- a prefix, a phonetic code, a year, names in any order).

* exact-key rule: two records are a candidate pair when they agree exactly on every key column.
  A null never agrees with anything (a record with a null key column produces no pair for that rule).
  The composite key is factorised, records are sorted by key and the within-group pairs are generated
  with repeat/cumsum arithmetic (no Python loop per group or pair). The number of pairs
  ``sum n(n-1)/2`` is counted first: a rule that would exceed ``max_pairs_per_rule`` raises
  :class:`~pace_linkage.errors.LinkageError` before anything is materialised.
* sorted-neighbourhood rule (``window``): records with no null in ``on`` are sorted by the tuple of
  ``on`` values (ties by position) and every record is paired with the next ``window - 1`` records.

``link_type``: ``link_only`` keeps only pairs from different sources, ``dedupe_only`` only pairs from the
same source, ``link_and_dedupe`` keeps both. Pairs are positions into ``records`` (RangeIndex 0..N-1),
``l < r``, each pair once, attributed to the first rule that produced it, sorted by (l, r).

Incremental blocking (``new``, a per-record bool mask of the records new in this run): only the pairs with
at least one new record are generated (new x new and new x existing; never existing x existing). For an
exact-key rule, the key is coded from the new records' values only (:func:`new_value_key`: the existing
records are probed, never factorised) and only the key groups holding a new record are looked at; inside
a group the new members are sorted first and each new member is paired with every member after it, so a
new x new pair appears once and no existing x existing pair is ever materialised. ``max_pairs_per_rule`` then bounds the pairs actually
generated. A window rule is computed on all records and filtered. The result equals the full blocking
filtered to the pairs touching a new record, with the same rule attribution.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from pace_linkage.counting import choose2, distinct_ints, pairs_sharing_code, pairs_within_groups
from pace_linkage.engine.keys import key_frame
from pace_linkage.engine.settings import BlockingRule
from pace_linkage.errors import LinkageError
from pace_linkage.schema import LEFT, RIGHT, RULE, SOURCE

LINK_TYPES = ("link_and_dedupe", "link_only", "dedupe_only")


@dataclass
class BlockingResult:
    """Candidate pairs (``l``, ``r`` int32 positions, ``rule`` int8) and per-rule statistics; with
    ``keep_keys``, each rule's key per record (:func:`rule_key`; None for a window rule) until comparing takes
    them (:meth:`take_keys`: its pattern counts read the same keys, so they are computed once)."""

    pairs: pd.DataFrame
    stats: pd.DataFrame
    keys: list[np.ndarray | None] | None = field(default=None, repr=False)

    def take_keys(self) -> list[np.ndarray | None] | None:
        """The rules' keys, handed over once (the result no longer holds them)."""
        keys, self.keys = self.keys, None
        return keys


# --------------------------------------------------------------------------------------------------
# Keys
# --------------------------------------------------------------------------------------------------
def column_codes(values: pd.Series, sort: bool = False) -> np.ndarray:
    """Integer codes of a column, ``-1`` for null (pd.NA, None, NaN, NaT). Equal values share a code."""
    codes, _ = pd.factorize(values, sort=sort, use_na_sentinel=True)
    return codes.astype(np.int64, copy=False)


def composite_key(records: pd.DataFrame, columns: Sequence[str], sort: bool = False) -> np.ndarray:
    """One int64 code per record for the tuple of ``columns``; ``-1`` if any column is null.

    With ``sort=True`` the codes follow the lexicographic order of the value tuples.
    """
    missing = [c for c in columns if c not in records.columns]
    if missing:
        raise LinkageError(f"blocking: column(s) {', '.join(missing)} not in the records")
    key = np.zeros(len(records), dtype=np.int64)
    null = np.zeros(len(records), dtype=bool)
    for col in columns:
        codes = column_codes(records[col], sort=sort)
        null |= codes < 0
        width = int(codes.max()) + 1 if len(codes) else 1
        combined = key * max(width, 1) + np.maximum(codes, 0)
        # re-factorise after each column so the code stays below N (no overflow for many columns)
        key = pd.factorize(combined, sort=sort)[0].astype(np.int64)
    key[null] = -1
    return key


# --------------------------------------------------------------------------------------------------
# Pair generation
# --------------------------------------------------------------------------------------------------
def _new_group_pairs(
    key: np.ndarray, new: np.ndarray, rule_name: str, max_pairs: int
) -> tuple[np.ndarray, np.ndarray]:
    """The pairs of records sharing a non-negative key with at least one new record (new members of a
    group sorted first, each paired with the members after it). Positions, not yet ordered l < r."""
    new_keys = distinct_ints(key[new & (key >= 0)])
    pos = np.flatnonzero((key >= 0) & np.isin(key, new_keys))  # only groups holding a new record
    if len(pos) < 2:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    pos = pos[np.lexsort((pos, ~new[pos], key[pos]))]  # by key, new first, then position
    k = key[pos]
    starts = np.flatnonzero(np.r_[True, k[1:] != k[:-1]])
    sizes = np.diff(np.r_[starts, len(k)])
    group_end = np.repeat(starts + sizes, sizes)
    idx = np.arange(len(k), dtype=np.int64)
    cnt = np.where(new[pos], group_end - idx - 1, 0)
    total = int(cnt.sum())
    if total > max_pairs:
        raise LinkageError(
            f"blocking rule '{rule_name}' would generate {total} pairs, more than max_pairs_per_rule "
            f"({max_pairs}); make the rule stricter"
        )
    left = np.repeat(idx, cnt)
    offsets = np.arange(total, dtype=np.int64) - np.repeat(np.cumsum(cnt) - cnt, cnt)
    right = left + 1 + offsets
    return pos[left], pos[right]


def within_group_pairs(key: np.ndarray, rule_name: str, max_pairs: int) -> tuple[np.ndarray, np.ndarray]:
    """All pairs of records sharing a non-negative key, as (l, r) position arrays with l < r."""
    pos = np.flatnonzero(key >= 0)
    if len(pos) < 2:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    order = np.argsort(key[pos], kind="stable")
    pos = pos[order]  # positions grouped by key, ascending position inside each group
    k = key[pos]
    starts = np.flatnonzero(np.r_[True, k[1:] != k[:-1]])
    sizes = np.diff(np.r_[starts, len(k)])
    total = pairs_within_groups(sizes)
    if total > max_pairs:
        raise LinkageError(
            f"blocking rule '{rule_name}' would generate {total} pairs, more than max_pairs_per_rule "
            f"({max_pairs}); make the rule stricter"
        )
    # for the element at sorted index i, its partners are the later elements of its group
    group_end = np.repeat(starts + sizes, sizes)
    idx = np.arange(len(k), dtype=np.int64)
    cnt = group_end - idx - 1
    left = np.repeat(idx, cnt)
    offsets = np.arange(total, dtype=np.int64) - np.repeat(np.cumsum(cnt) - cnt, cnt)
    right = left + 1 + offsets
    return pos[left], pos[right]


def _window_pairs(
    records: pd.DataFrame, columns: Sequence[str], window: int, rule_name: str, max_pairs: int
) -> tuple[np.ndarray, np.ndarray]:
    """Sorted neighbourhood: pair each record with the next ``window - 1`` records in key order."""
    key = composite_key(records, columns, sort=True)
    pos = np.flatnonzero(key >= 0)
    order = np.lexsort((pos, key[pos]))  # by key, ties by position: deterministic
    pos = pos[order]
    n = len(pos)
    total = int(sum(max(n - d, 0) for d in range(1, window)))
    if total > max_pairs:
        raise LinkageError(
            f"blocking rule '{rule_name}' would generate {total} pairs, more than max_pairs_per_rule "
            f"({max_pairs}); use a smaller window"
        )
    lefts, rights = [], []
    for d in range(1, window):  # loop over offsets (window is small), not over records
        if n > d:
            lefts.append(pos[:-d])
            rights.append(pos[d:])
    if not lefts:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    return np.concatenate(lefts).astype(np.int64), np.concatenate(rights).astype(np.int64)


def _filter_link_type(l_: np.ndarray, r_: np.ndarray, source_codes: np.ndarray | None, link_type: str):
    if source_codes is None or link_type == "link_and_dedupe":
        return l_, r_
    same = source_codes[l_] == source_codes[r_]
    keep = ~same if link_type == "link_only" else same
    return l_[keep], r_[keep]


def new_value_key(records: pd.DataFrame, columns: Sequence[str], new: np.ndarray) -> np.ndarray:
    """A composite key (int64) that equals for two records exactly when they agree on every column, for
    the records whose every value is also held by a new record; ``-1`` for the others (and for nulls),
    which cannot share a whole key with a new record. Each column is coded by probing the new records'
    few distinct values, so a large existing set is never factorised."""
    missing = [c for c in columns if c not in records.columns]
    if missing:
        raise LinkageError(f"blocking: column(s) {', '.join(missing)} not in the records")
    key = np.zeros(len(records), dtype=np.int64)
    ok = np.ones(len(records), dtype=bool)
    for col in columns:
        values = records[col]
        table = pd.Index(pd.unique(values[new].dropna()))
        codes = table.get_indexer(values).astype(np.int64) if len(table) else np.full(len(records), -1)
        ok &= codes >= 0
        key = key * (len(table) + 1) + np.maximum(codes, 0)
        if ok.any() and int(key[ok].max()) > 1 << 40:  # keep the product of widths far from overflow
            key[ok] = pd.factorize(key[ok])[0]
    key[~ok] = -1
    return key


def drop_common(key: np.ndarray, max_group: int | None) -> np.ndarray:
    """``key`` with ``-1`` for the records whose key value more than ``max_group`` records share (a value
    too common to block on: those records get no pair from this rule; other rules still pair them)."""
    if max_group is None:
        return key
    valid = key >= 0
    _, inverse, counts = np.unique(key[valid], return_inverse=True, return_counts=True)
    out = key.copy()
    out[np.flatnonzero(valid)[counts[inverse] > max_group]] = -1
    return out


def rule_key(records: pd.DataFrame, rule: BlockingRule) -> np.ndarray:
    """The rule's key per record (int64; ``-1`` where a key part is null or, with ``max_group``, a value too
    common): two records agree on the rule exactly when their keys are equal and not ``-1`` (for a window
    rule: the sort key)."""
    keys = key_frame(records, rule)
    return drop_common(composite_key(keys, list(keys.columns)), rule.max_group)


def _new_mask(new, n: int) -> np.ndarray | None:
    if new is None:
        return None
    new = np.asarray(new, dtype=bool)
    if new.shape != (n,):
        raise LinkageError("blocking: the new-record mask must have one value per record")
    return new


def rule_pairs(
    records: pd.DataFrame, rule: BlockingRule, link_type: str = "link_and_dedupe",
    max_pairs_per_rule: int = 50_000_000, new: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The (l, r) pairs (l < r, int64) one rule generates, after the link_type filter. With ``new`` (bool
    per record) only the pairs holding at least one new record (see the module docstring)."""
    return keyed_rule_pairs(records, rule, link_type, max_pairs_per_rule, new)[:2]


def keyed_rule_pairs(
    records: pd.DataFrame, rule: BlockingRule, link_type: str, max_pairs_per_rule: int, new: np.ndarray | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """:func:`rule_pairs`, and the rule's key per record (:func:`rule_key`) when it was computed on the way
    (an exact rule without ``new``), else None."""
    new = _new_mask(new, len(records))
    keys = key_frame(records, rule)
    key = None
    if rule.window:
        a, b = _window_pairs(keys, list(keys.columns), rule.window, rule.name, max_pairs_per_rule)
        if new is not None:
            touch = new[a] | new[b]
            a, b = a[touch], b[touch]
    elif new is not None:
        a, b = _new_group_pairs(drop_common(new_value_key(keys, list(keys.columns), new), rule.max_group), new,
                                rule.name, max_pairs_per_rule)
    else:
        key = drop_common(composite_key(keys, list(keys.columns)), rule.max_group)
        a, b = within_group_pairs(key, rule.name, max_pairs_per_rule)
    l_, r_ = np.minimum(a, b), np.maximum(a, b)
    if link_type == "link_and_dedupe":
        return l_, r_, key
    src = column_codes(records[SOURCE]) if SOURCE in records.columns else None
    return (*_filter_link_type(l_, r_, src, link_type), key)


def block(
    records: pd.DataFrame,
    rules: Sequence[BlockingRule],
    link_type: str = "link_and_dedupe",
    max_pairs_per_rule: int = 50_000_000,
    new: np.ndarray | None = None,
    keep_keys: bool = False,
) -> BlockingResult:
    """Apply every rule and union the pairs; each pair is attributed to the first rule producing it.
    With ``new`` (bool per record), only pairs with at least one new record (incremental linkage).
    ``keep_keys``: the result holds each rule's key per record (:attr:`BlockingResult.keys`; not with
    ``new``)."""
    if link_type not in LINK_TYPES:
        raise LinkageError(f"blocking: link_type must be one of {', '.join(LINK_TYPES)}")
    if not rules:
        raise LinkageError("blocking: no blocking rule configured")
    if len(rules) > 127:
        raise LinkageError("blocking: at most 127 blocking rules are supported")
    n = len(records)
    new = _new_mask(new, n)
    codes, keys = [], []
    for i, rule in enumerate(rules):
        l_, r_, key = keyed_rule_pairs(records, rule, link_type, max_pairs_per_rule, new)
        codes.append(rule_coded(l_, r_, n, i))
        keys.append(key if keep_keys and new is None else None)
        del l_, r_, key
    result = union_pairs(codes, n, [rule.name for rule in rules])
    result.keys = keys if keep_keys and new is None else None
    return result


RULE_BITS = 7  # up to 127 rules: a pair's code carries its rule in its low bits


def rule_coded(l_: np.ndarray, r_: np.ndarray, n: int, rule: int) -> np.ndarray:
    """One int64 per pair: ``(l * n + r) << RULE_BITS | rule`` (sorting them sorts by (l, r), then rule)."""
    if n and (n - 1) * n + n >= 1 << (63 - RULE_BITS):
        raise LinkageError("blocking: too many records to code the candidate pairs in 64 bits")
    code = l_.astype(np.int64, copy=False) * n
    code += r_
    code <<= RULE_BITS
    code |= rule
    return code


def union_pairs(codes: list[np.ndarray], n: int, rule_names: Sequence[str]) -> BlockingResult:
    """The union of the rules' pairs (:func:`rule_coded`, one array per rule; the list is emptied), each pair
    once, attributed to the first rule producing it, sorted by (l, r); with each rule's distinct pairs
    (``pairs_generated``) and the pairs it was first to produce (``pairs_added``). One sort of every rule's
    codes together, in place."""
    allc = np.concatenate(codes) if codes else np.empty(0, np.int64)
    codes.clear()
    allc.sort()
    distinct = np.empty(len(allc), dtype=bool)  # a (pair, rule) not seen before (a window rule may repeat one)
    distinct[:1] = True
    np.not_equal(allc[1:], allc[:-1], out=distinct[1:])
    rule_of = (allc & ((1 << RULE_BITS) - 1)).astype(np.int8)
    generated = np.bincount(rule_of[distinct], minlength=len(rule_names))
    del distinct
    allc >>= RULE_BITS
    first = np.empty(len(allc), dtype=bool)  # the first (lowest) rule of each pair
    first[:1] = True
    np.not_equal(allc[1:], allc[:-1], out=first[1:])
    uniq, rule_idx = allc[first], rule_of[first]
    del allc, rule_of, first
    pairs = pd.DataFrame({
        LEFT: (uniq // max(n, 1)).astype(np.int32),
        RIGHT: (uniq % max(n, 1)).astype(np.int32),
        RULE: rule_idx,
    })
    added = np.bincount(rule_idx, minlength=len(rule_names))
    stats = [{"rule": name, "pairs_generated": int(generated[i]), "pairs_added": int(added[i])}
             for i, name in enumerate(rule_names)]
    return BlockingResult(pairs=pairs, stats=pd.DataFrame(stats, columns=["rule", "pairs_generated", "pairs_added"]))


# --------------------------------------------------------------------------------------------------
# Quality with a truth
# --------------------------------------------------------------------------------------------------
def true_pair_count(truth_person_ids: Sequence | np.ndarray) -> int:
    """Number of record pairs sharing a (non-null) person id."""
    return pairs_sharing_code(column_codes(pd.Series(truth_person_ids)))


def blocking_stats_with_truth(
    pairs: pd.DataFrame, n: int, truth_person_ids: Sequence | np.ndarray,
    rule_names: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Pairs completeness (share of true pairs among candidates) and reduction ratio
    (``1 - candidates / all pairs``), overall and per rule (net: pairs first produced by the rule),
    with the cumulative completeness after each rule."""
    codes = column_codes(pd.Series(truth_person_ids))
    l_ = pairs[LEFT].to_numpy(np.int64)
    r_ = pairs[RIGHT].to_numpy(np.int64)
    is_true = (codes[l_] == codes[r_]) & (codes[l_] >= 0)
    n_true = true_pair_count(truth_person_ids)
    all_pairs = choose2(n)
    rules = pairs[RULE].to_numpy() if RULE in pairs.columns else np.zeros(len(pairs), np.int8)
    n_rules = int(rules.max()) + 1 if len(rules) else 0
    if rule_names is not None:
        n_rules = max(n_rules, len(rule_names))
    rows, cum = [], 0
    for i in range(n_rules):
        sel = rules == i
        found = int(is_true[sel].sum())
        cum += found
        rows.append({
            "rule": rule_names[i] if rule_names is not None and i < len(rule_names) else str(i),
            "pairs": int(sel.sum()),
            "true_pairs_found": found,
            "pairs_completeness": found / n_true if n_true else float("nan"),
            "cumulative_completeness": cum / n_true if n_true else float("nan"),
            "reduction_ratio": 1 - sel.sum() / all_pairs if all_pairs else float("nan"),
        })
    rows.append({
        "rule": "all",
        "pairs": int(len(pairs)),
        "true_pairs_found": int(is_true.sum()),
        "pairs_completeness": is_true.sum() / n_true if n_true else float("nan"),
        "cumulative_completeness": is_true.sum() / n_true if n_true else float("nan"),
        "reduction_ratio": 1 - len(pairs) / all_pairs if all_pairs else float("nan"),
    })
    return pd.DataFrame(rows)

"""Without truth: the matches blocking never compared, a recall that counts them, and a blocking advisor.

:func:`pace_linkage.evaluate.quality.estimated_quality` sees the candidate pairs only, so a match that no
blocking rule proposed is invisible to it. Here the pairs outside the candidates are estimated from *looser
keys*: each exact blocking rule with one of its key parts dropped (``postcode + first_name_initial`` gives
``postcode`` and ``first_name_initial``). A match that blocking missed because ONE key part was wrong, missing
or swapped agrees on such a looser key. For each looser key, in order of its pair count (smallest first):

* its pairs are counted from group sizes (``T``: every pair of records sharing the key, no enumeration);
* ``sample_pairs`` of them are drawn uniformly (with replacement, seeded): a key group with probability in
  proportion to its pairs, then two distinct members of it;
* each drawn pair is compared and scored with the run's model; it counts when it is a pair the run could link
  (link type, duplicate-free sources), not a candidate pair, not inside one cluster already, not a pair of an
  earlier looser key (so no pair is counted twice), and the model rates it more likely a match than not;
* no gamma pattern is credited with more matches than ``CAP_SLACK`` times the model's m of it allows
  (:func:`pattern_caps`): pairs that agree on a full name and nothing else can be rated above one half while
  there are far more of them than matches;
* the matches it adds are ``T`` times the share of drawn pairs that count (Horvitz-Thompson), with a normal
  95% interval from the sample's variance; its pair cost is ``T`` times the share of drawn pairs that are new.

A looser key whose pairs exceed ``max_pairs_ratio`` times the candidate pairs is not sampled (listed as
skipped): its estimate would rest on too small a share of its pairs.

The recall then reads the clusters, as the pairwise recall against truth does: expected true pairs inside
clusters (the summed probabilities of every within-cluster pair, compared or not) over true pairs anywhere
(inside clusters + candidate pairs across clusters + the missed pairs above). Outside the clusters there are
two readings of the matches, and they err in opposite directions:

* *counted*: a pair is a match when the model rates it more likely a match than not (``cut`` 0.5). It misses
  the matches with little evidence (no birth date, moved, one name changed), which the model rightly rates
  below one half one by one, so it overstates the recall;
* *expected*: the summed probabilities. Over many pairs outside the clusters (households, namesakes) the
  model's miscalibrated tails add up to phantom matches, so it understates the recall.

The point estimate takes the matches lost halfway between the two readings. Measured against truth on five
runs (the project's synthetic data at 20k people; the independent generator's at 10k people with three rule
sets and at 100k people), the counted reading was 0.2 to 1.6 points above the true recall, the expected reading
from 0.3 above to 2.1 below it, and halfway within 0.5 points on four runs and 0.9 on the fifth.

Matches that agree on no looser key (two or more errors in every rule's columns) are extrapolated from the
patterns of the matches seen (:mod:`pace_linkage.evaluate.unseen`). The interval spans both readings, the sampling error and none to twice
the extrapolated matches; it is only as good as the model's ranking of pairs.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from pace_linkage.counting import pairs_within_groups
from pace_linkage.engine.blocking import within_group_pairs
from pace_linkage.engine.columns import ColumnCache
from pace_linkage.engine.compare import compare
from pace_linkage.engine.model import FSModel
from pace_linkage.engine.score import score
from pace_linkage.evaluate.quality import group_codes, ratio, same_code
from pace_linkage.evaluate.unseen import KeyCodes, Part, part_label, unseen_matches
from pace_linkage.schema import LEFT, MATCH_PROBABILITY, RECORD_ID, RIGHT, RULE, SOURCE

Z95 = 1.959963984540054
# a gamma pattern may hold this many times the matches the model's m gives it: m is an estimate (errors that go
# together make multi-error patterns commoner than m says), so the cap only stops gross excess (namesakes)
CAP_SLACK = 100.0


@dataclass
class LooserKey:
    """A key made by dropping one part of a blocking rule: its parts and the rule it loosens."""

    on: tuple[Part, ...]
    rule: str

    @property
    def name(self) -> str:
        return "+".join(part_label(p) for p in self.on)


def looser_keys(rules: Sequence) -> list[LooserKey]:
    """Each exact blocking rule with one key part dropped, once each (first rule named), leaving out a key equal
    to an existing rule's parts; a rule with ``max_group`` also gives its own key whole (the groups it skipped).
    Window rules and other single-part rules give none."""
    def canon(parts) -> tuple[str, ...]:
        return tuple(sorted(part_label(p) for p in parts))

    existing = {canon(r.on) for r in rules if r.window is None and not r.max_group}
    seen: set[tuple[str, ...]] = set()
    out = []
    for rule in rules:
        if rule.window is None and rule.max_group and canon(rule.on) not in seen | existing:
            seen.add(canon(rule.on))
            out.append(LooserKey(tuple(rule.on), rule.name))
        if rule.window is not None or len(rule.on) < 2:
            continue
        for drop in range(len(rule.on)):
            on = tuple(c for i, c in enumerate(rule.on) if i != drop)
            if canon(on) in seen or canon(on) in existing:
                continue
            seen.add(canon(on))
            out.append(LooserKey(on, rule.name))
    return out


def _pair_codes(left: np.ndarray, right: np.ndarray, n: int) -> np.ndarray:
    codes = np.minimum(left, right).astype(np.int64)
    codes *= n
    codes += np.maximum(left, right)
    return codes


def _position_in_runs(values: np.ndarray, start: np.ndarray, stop: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Per query, the first position of ``x`` in the ascending run ``values[start:stop]``, ``-1`` if it is not
    there: one vectorised bisection step at a time over the queries still searching."""
    lo, hi = start.astype(np.int64), stop.astype(np.int64)
    active = np.flatnonzero(lo < hi)
    while len(active):
        mid = (lo[active] + hi[active]) // 2
        below = values[mid] < x[active]
        lo[active[below]] = mid[below] + 1
        hi[active[~below]] = mid[~below]
        active = active[lo[active] < hi[active]]
    found = lo < stop
    found[found] = values[lo[found]] == x[found]
    return np.where(found, lo, -1)


COUNT_CHUNK = 1 << 16  # positions counted at a time by run_starts


def run_starts(ordered: np.ndarray, n: int) -> np.ndarray:
    """``np.searchsorted(ordered, np.arange(n + 1))`` of ascending non-negative positions: where each value's run
    starts, from the counts of the values below it (counted a chunk at a time, each chunk from its own first
    value: no binary search per value, no wider copy of the positions)."""
    if len(ordered) == 0 or ordered[0] < 0:
        return np.searchsorted(ordered, np.arange(n + 1))
    counts = np.zeros(max(n, int(ordered[-1]) + 1), dtype=np.int64)
    for a in range(0, len(ordered), COUNT_CHUNK):
        part = ordered[a:a + COUNT_CHUNK]
        first = int(part[0])
        chunk = np.bincount(part - part.dtype.type(first))
        counts[first:first + len(chunk)] += chunk
    return np.concatenate([np.zeros(1, dtype=np.int64), np.cumsum(counts[:n])])


def sample_key_pairs(key: np.ndarray, size: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, int]:
    """``size`` record pairs drawn uniformly, with replacement, from the pairs sharing a non-negative ``key``
    (positions l, r) and the number of such pairs: a key group drawn with probability in proportion to its
    pairs (groups in key order), then two distinct members of it (members in position order). Only the drawn
    groups' members are sorted, never all the records."""
    valid = key >= 0
    sizes = np.bincount(key[valid]).astype(np.int64) if valid.any() else np.zeros(0, np.int64)
    per_group = sizes * (sizes - 1) // 2
    total = int(per_group.sum())
    if total == 0 or size <= 0:
        return np.empty(0, np.int64), np.empty(0, np.int64), total
    group = np.searchsorted(np.cumsum(per_group), rng.integers(0, total, size=size), side="right")
    n = sizes[group]
    i = (rng.random(size) * n).astype(np.int64)
    j = (rng.random(size) * (n - 1)).astype(np.int64)
    j += j >= i
    drawn = np.zeros(len(sizes) + 1, dtype=bool)  # the last slot: a null key
    drawn[group] = True
    members = np.flatnonzero(drawn[np.where(valid, key, len(sizes))])  # ascending positions
    rank = np.cumsum(drawn) - 1  # a drawn group's rank among the drawn groups, in key order
    of_member = rank[key[members]].astype(np.uint16 if rank[-1] < 1 << 16 else np.int64)  # 16 bits: a radix sort
    order = np.argsort(of_member, kind="stable")
    members = members[order]  # by key, then position
    first = np.searchsorted(of_member[order], rank[group])
    return members[first + i], members[first + j], total


def paired_only(key: np.ndarray) -> np.ndarray:
    """``key`` with ``-1`` for the records alone in their key group: they share no pair, so the pairs of the
    key are the same, found among fewer records."""
    valid = key >= 0
    if not valid.any():
        return key
    sizes = np.bincount(key[valid])
    return np.where(valid & (sizes[np.maximum(key, 0)] >= 2), key, -1)


@dataclass
class Scorer:
    """Compares and scores record pairs (positions into the run's prepared records) with the run's model:
    ``linker`` is the run's :class:`~pace_linkage.engine.linker.Linker`. What the comparisons read of the
    records (codes, parsed values, term frequencies) is derived once, on the first call, and kept for the
    next: the estimate scores pairs in several calls."""

    linker: object
    records: pd.DataFrame
    model: FSModel
    cache: ColumnCache | None = None

    def gamma_and_probability(self, pairs: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
        """Gamma (one column per comparison) and match probability of ``pairs`` (l, r), as the run's compare
        and score stages give them."""
        self.cache = self.cache or ColumnCache(self.records)
        gamma = compare(self.records, pairs, self.linker.settings.comparisons, cache=self.cache)
        scored = score(self.model, self.records, pairs, gamma, cache=self.cache)
        return gamma, scored[MATCH_PROBABILITY].to_numpy(dtype=np.float64)

    def __call__(self, left: np.ndarray, right: np.ndarray) -> np.ndarray:
        return self.patterns(left, right)[0]

    def patterns(self, left: np.ndarray, right: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per pair: the match probability, a code of its comparison levels (its gamma pattern) and the
        model's m of that pattern (the share of all matches it expects to show it; a null level counts 1)."""
        if len(left) == 0:
            return np.empty(0), np.empty(0, dtype=np.int64), np.empty(0)
        lo, hi = np.minimum(left, right), np.maximum(left, right)
        pairs = pd.DataFrame({LEFT: lo.astype(np.int32), RIGHT: hi.astype(np.int32),
                              RULE: np.zeros(len(lo), dtype=np.int8)})
        gamma, probability = self.gamma_and_probability(pairs)
        code, m = np.zeros(len(lo), dtype=np.int64), np.ones(len(lo))
        for params, column in zip(self.model.comparisons, gamma.columns, strict=True):
            g = gamma[column].to_numpy(dtype=np.int64)
            code = code * (params.n_levels + 1) + g + 1
            m *= np.r_[params.m, 1.0][g]  # index -1 (null) -> 1
        return probability, code, m


def pattern_caps(code: np.ndarray, m: np.ndarray, weight: np.ndarray, matches_seen: float) -> np.ndarray:
    """Per pair, the factor (at most 1) that keeps the matches counted with each gamma pattern within what the
    model's m allows: of ``matches_seen`` matches at most ``matches_seen * m`` show a pattern. Pairs that agree
    on one key and nothing else (namesakes, households) can reach a match probability above one half while far
    more of them exist than there are matches: the cap counts at most the matches the pattern can hold."""
    if len(code) == 0:
        return np.ones(0)
    uniq, inverse = np.unique(code, return_inverse=True)
    counted = np.bincount(inverse, weights=weight, minlength=len(uniq))
    with np.errstate(invalid="ignore"):  # an unknown m (inf) sets no cap
        cap = CAP_SLACK * matches_seen * np.bincount(inverse, weights=m, minlength=len(uniq)) / np.bincount(inverse)
    factor = np.where(counted > cap, cap / np.maximum(counted, 1e-300), 1.0)
    return factor[inverse]


@dataclass
class RunView:
    """What the estimate reads of a run: the prepared ``records``, the candidate ``pairs`` (l, r), their match
    ``probability``, the cluster id per record (``cluster``, aligned with the records), the link type and
    which records may not pair with their own source (``duplicate_free``, bool per record)."""

    records: pd.DataFrame
    pairs: pd.DataFrame
    probability: np.ndarray
    cluster: np.ndarray
    link_type: str
    duplicate_free: np.ndarray

    @functools.cached_property
    def _candidates(self) -> tuple[np.ndarray | None, np.ndarray]:
        """The positions that sort the candidate pairs by pair code (None: in order already, as blocking gives
        them; then no sort and no array of positions), and the sorted codes, made once."""
        codes = _pair_codes(self.pairs[LEFT].to_numpy(), self.pairs[RIGHT].to_numpy(), len(self.records))
        if (codes[1:] >= codes[:-1]).all():
            return None, codes
        order = np.argsort(codes, kind="stable")
        return order, codes[order]

    @property
    def candidate_order(self) -> np.ndarray:
        """The positions that sort the candidate pairs by pair code."""
        order = self._candidates[0]
        return np.arange(len(self.candidate_codes)) if order is None else order

    @property
    def candidate_codes(self) -> np.ndarray:
        """The candidate pairs as sorted pair codes (:func:`_is_member` looks pairs up in them)."""
        return self._candidates[1]

    @functools.cached_property
    def _in_order(self) -> np.ndarray | None:
        """Where each record's pairs start among the candidate pairs, when these are in (left, right) order
        with left <= right, as blocking gives them (None otherwise): the pairs are then looked up in their
        own right positions, without a pair code per candidate (8 bytes a pair, at millions of pairs)."""
        lp, rp = self.pairs[LEFT].to_numpy(), self.pairs[RIGHT].to_numpy()
        if not (lp <= rp).all() or not (lp[1:] >= lp[:-1]).all():
            return None
        back = lp[1:] == lp[:-1]  # within a record's run, the right positions must not go back
        np.logical_and(back, rp[1:] < rp[:-1], out=back)
        if back.any():
            return None
        return run_starts(lp, len(self.records))

    def candidate_position(self, left: np.ndarray, right: np.ndarray) -> np.ndarray:
        """Per record pair, its position among the candidate pairs (either way round), ``-1`` if it is none
        (the first, if a pair is there twice)."""
        starts = self._in_order
        if starts is not None:
            lo, hi = np.minimum(left, right), np.maximum(left, right)
            return _position_in_runs(self.pairs[RIGHT].to_numpy(), starts[lo], starts[lo + 1], hi)
        codes, ranked = _pair_codes(left, right, len(self.records)), self.candidate_codes
        at = np.minimum(np.searchsorted(ranked, codes), max(len(ranked) - 1, 0))
        found = ranked[at] == codes if len(ranked) else np.zeros(len(codes), dtype=bool)
        order = self._candidates[0]
        return np.where(found, (at if order is None else order[at]) if len(ranked) else -1, -1)

    @functools.cached_property
    def source_codes(self) -> np.ndarray:
        """Each record's source as a code, made once."""
        return pd.factorize(self.records[SOURCE])[0]


def linkable(view: RunView, left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Whether each pair could be linked at all: its link type allows it and it is not two records of one
    duplicate-free source."""
    src = view.source_codes
    same = src[left] == src[right]
    ok = left != right
    if view.link_type == "link_only":
        ok &= ~same
    elif view.link_type == "dedupe_only":
        ok &= same
    return ok & ~(same & view.duplicate_free[left])


def within_cluster_pairs(cluster: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every pair of records sharing a cluster id (l < r)."""
    codes = pd.factorize(cluster)[0].astype(np.int64)
    return within_group_pairs(codes, "clusters", np.iinfo(np.int64).max)


def _key_stats(hard: np.ndarray, soft: np.ndarray, new: np.ndarray, total: int, exact: bool) -> dict:
    n = len(hard)
    scale = total / n if n else 0.0

    def se(x: np.ndarray) -> float:
        return total * float(x.std(ddof=1)) / np.sqrt(n) if n > 1 and not exact else 0.0

    return {"pairs": total, "sampled": n, "exact": exact, "new_pairs": scale * float(new.sum()),
            "matches": scale * float(hard.sum()), "se": se(hard), "expected": scale * float(soft.sum()),
            "expected_se": se(soft)}


def _draw(view: RunView, codes: np.ndarray, key: LooserKey, size: int, sample_pairs: int, rng,
          earlier: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray, bool]:
    """A looser key's pairs (all of them, or a sample) and which are new: linkable, not candidates, not in one
    cluster, not on an earlier key."""
    exact = size <= sample_pairs  # few enough: every pair, exactly
    if exact:
        left, right = within_group_pairs(paired_only(codes), key.name, size)
    else:
        left, right, _ = sample_key_pairs(codes, sample_pairs, rng)
    new = linkable(view, left, right) & (view.candidate_position(left, right) < 0)
    new &= view.cluster[left] != view.cluster[right]
    for prev in earlier:
        new &= ~((prev[left] == prev[right]) & (prev[left] >= 0))
    return left, right, new, exact


def _score(scorer, left: np.ndarray, right: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Probability, pattern code and m per pair; a bare callable scorer gives probabilities only (no caps)."""
    if hasattr(scorer, "patterns"):
        return scorer.patterns(left, right)
    return scorer(left, right), np.zeros(len(left), dtype=np.int64), np.full(len(left), np.inf)


def estimate_missed(view: RunView, scorer, keys: Sequence[LooserKey], *, sample_pairs: int, seed: int,
                    max_pairs_ratio: float, cut: float = 0.5, matches_seen: float = np.inf,
                    key_codes: KeyCodes | None = None) -> dict:
    """The matches outside the candidate pairs and clusters, per looser key (see the module). A drawn pair
    counts as a match when its probability reaches ``cut`` (``matches``); the summed probabilities are kept
    as ``expected``; both are capped per gamma pattern by :func:`pattern_caps` of ``matches_seen``. Returns
    ``keys`` (name, rule, pairs, sampled, new_pairs, matches, se, expected, expected_se; or skipped), the
    totals with their standard errors and the matches ``found`` (left, right, weight). ``key_codes``: the
    records' :class:`~pace_linkage.evaluate.unseen.KeyCodes`, if the caller has them."""
    n = len(view.records)
    key_codes = key_codes or KeyCodes(view.records)
    rng = np.random.default_rng(seed)
    built = [(k, key_codes(k.on)) for k in keys]
    sized = sorted((pairs_within_groups(np.bincount(c[c >= 0])), i) for i, (_, c) in enumerate(built))
    limit = max_pairs_ratio * max(len(view.pairs), n)
    earlier: list[np.ndarray] = []
    drawn, rows = [], {}
    for size, i in sized:
        key, codes = built[i]
        if size > limit:
            rows[i] = {"name": key.name, "rule": key.rule, "pairs": int(size), "skipped": "too many pairs"}
            continue
        left, right, new, exact = _draw(view, codes, key, size, sample_pairs, rng, earlier)
        earlier.append(codes)
        soft, code, m = np.zeros(len(left)), np.zeros(len(left), dtype=np.int64), np.zeros(len(left))
        if new.any():
            soft[new], code[new], m[new] = _score(scorer, left[new], right[new])
        drawn.append((i, int(size), exact, left, right, new, soft, code, m))
    hard_all = np.concatenate([(d[6] >= cut) & d[5] for d in drawn]) if drawn else np.zeros(0, bool)
    scale = np.concatenate([np.full(len(d[3]), d[1] / max(len(d[3]), 1)) for d in drawn]) if drawn else np.zeros(0)
    codes_all = np.concatenate([d[7] for d in drawn]) if drawn else np.zeros(0, np.int64)
    m_all = np.concatenate([d[8] for d in drawn]) if drawn else np.zeros(0)
    soft_all = np.concatenate([d[6] for d in drawn]) if drawn else np.zeros(0)
    factor = pattern_caps(codes_all, m_all, scale * hard_all, matches_seen)
    factor_soft = pattern_caps(codes_all, m_all, scale * soft_all, matches_seen)
    found, at = [], 0
    for i, size, exact, left, right, new, soft, _, _ in drawn:
        f, fs = factor[at:at + len(left)], factor_soft[at:at + len(left)]
        at += len(left)
        hard = (soft >= cut) & new
        rows[i] = {"name": built[i][0].name, "rule": built[i][0].rule,
                   **_key_stats(hard * f, soft * fs, new, size, exact)}
        found.append((left[hard], right[hard], (size / max(len(left), 1)) * f[hard]))
    ordered = [rows[i] for _, i in sized]
    done = [r for r in ordered if "skipped" not in r]
    return {"keys": ordered, "found": found, **{k: float(sum(r[k] for r in done)) for k in ("matches", "expected")},
            **{k: float(np.sqrt(sum(r[k] ** 2 for r in done))) for k in ("se", "expected_se")}}


def cluster_codes(records: pd.DataFrame, clusters: pd.DataFrame, id_column: str) -> np.ndarray:
    """The cluster of each record (aligned with ``records``, matched on source and record id) as integer
    codes; a record without a cluster id is a cluster of its own."""
    if len(clusters) == len(records) and all(np.array_equal(clusters[c].to_numpy(), records[c].to_numpy())
                                             for c in (SOURCE, RECORD_ID)):  # row for row already, as a run's are
        return group_codes(pd.Series(clusters[id_column].to_numpy()))
    key = clusters[SOURCE].astype(str) + "\x1f" + clusters[RECORD_ID].astype(str)
    want = records[SOURCE].astype(str) + "\x1f" + records[RECORD_ID].astype(str)
    ids = pd.Series(clusters[id_column].to_numpy(), index=key.to_numpy()).reindex(want.to_numpy())
    return group_codes(ids.reset_index(drop=True))


def _interval(point: float, other: float, se: float) -> tuple[float, float]:
    """From the lower to the higher of two estimates, each widened by its 95% sampling margin."""
    return max(min(point, other) - Z95 * se, 0.0), max(point, other) + Z95 * se


def label_free_recall(view: RunView, scorer, keys: Sequence[LooserKey], *, sample_pairs: int, seed: int,
                      max_pairs_ratio: float, cut: float = 0.5, rules: Sequence = (),
                      fields: Sequence[str] = ()) -> dict:
    """The recall of the clusters estimated without truth, counting the matches blocking missed (see the
    module) and, from the blocking ``rules`` and the config's ``fields``, those agreeing on no key at all
    (:func:`pace_linkage.evaluate.unseen.unseen_matches`): ``recall`` with ``recall_low`` / ``recall_high``,
    what it is made of, and the looser keys (the blocking advisor's rows). With the run's :class:`Scorer`, a
    pair inside a cluster that was a candidate keeps the probability the run gave it (the same model scored
    it); only the pairs the clusters joined without comparing them are scored here."""
    wl, wr = within_cluster_pairs(view.cluster)
    at = view.candidate_position(wl, wr)
    not_compared = at < 0
    if isinstance(scorer, Scorer):  # the run's model scored the candidate pairs already: only the others now
        inside = np.zeros(len(wl))
        inside[~not_compared] = view.probability[at[~not_compared]]
        inside[not_compared] = scorer(wl[not_compared], wr[not_compared])
    else:
        inside = scorer(wl, wr)
    lp, rp = view.pairs[LEFT].to_numpy(), view.pairs[RIGHT].to_numpy()
    across = ~same_code(view.cluster, lp, rp)
    unlinked_probability = view.probability[across]
    unlinked, unlinked_expected = float((unlinked_probability >= cut).sum()), float(unlinked_probability.sum())
    del unlinked_probability
    linked = float(inside.sum())
    # the looser keys and the unseen patterns read the same parts; the scorer's comparisons coded some already
    key_codes = KeyCodes(view.records, getattr(scorer, "cache", None))
    missed = estimate_missed(view, scorer, keys, sample_pairs=sample_pairs, seed=seed,
                             max_pairs_ratio=max_pairs_ratio, cut=cut, matches_seen=linked + unlinked,
                             key_codes=key_codes)
    sampled = {r["name"] for r in missed["keys"] if "skipped" not in r}
    matched = across & (view.probability >= cut)
    seen = [(wl, wr, inside), (lp[matched], rp[matched], np.ones(int(matched.sum())))] + missed.pop("found")
    unseen = unseen_matches(view.records, [list(r.on) for r in rules if r.window is None]
                            + [list(k.on) for k in keys if k.name in sampled], fields,
                            *(np.concatenate(parts) for parts in zip(*seen, strict=True)), key_codes=key_codes)
    se = max(missed["se"], missed["expected_se"])
    low, high = _interval(missed["matches"], missed["expected"], se)
    extra = unseen["matches"]

    def recall(lost: float, left_out: float) -> float:
        return ratio(linked, linked + left_out + lost)

    on_keys = (missed["matches"] + missed["expected"]) / 2  # halfway between the counted and expected readings
    # the extrapolation rests on independence: measured from about half to twice the true count; at best none
    return {"recall": recall(on_keys + extra, (unlinked + unlinked_expected) / 2),
            "recall_low": recall(high + 2 * extra, max(unlinked, unlinked_expected)),
            "recall_high": recall(low, min(unlinked, unlinked_expected)),
            "expected_true_pairs_linked": linked, "unlinked_among_compared": unlinked,
            "unlinked_among_compared_expected": unlinked_expected,
            "missed_by_blocking": on_keys + extra, "missed_by_blocking_low": low,
            "missed_by_blocking_high": high + 2 * extra, "missed_by_blocking_counted": missed["matches"] + extra,
            "missed_by_blocking_expected": missed["expected"] + extra,
            "missed_on_looser_keys": on_keys, "missed_on_no_key": extra,
            "recovered_by_clustering": float(inside[not_compared].sum()),
            "looser_keys": missed["keys"], "sample_pairs": sample_pairs, "probability_cut": cut}


def rounded(doc: dict, digits: int = 6) -> dict:
    """``doc`` with every float rounded (metrics.json is compared byte for byte)."""
    def one(v):
        if isinstance(v, dict):
            return rounded(v, digits)
        if isinstance(v, list):
            return [one(x) for x in v]
        if isinstance(v, float | np.floating):
            return round(float(v), digits)
        if isinstance(v, np.integer):
            return int(v)
        return v
    return {k: one(v) for k, v in doc.items()}

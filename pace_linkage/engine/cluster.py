"""Cluster: turn scored pairs into one ``pace_id`` per person.

Rules:

* Clusters are the connected components of the graph whose edges are the pairs with
  ``match_probability >= threshold`` (scipy.sparse.csgraph). Every record gets exactly one id; records
  with no edge are singletons.
* A component is a *conflict* when it is larger than ``max_cluster_size``, or holds two different non-null
  values of a ``conflict_fields`` column (e.g. two different valid NINOs), or two records of a
  ``duplicate_free`` source (a partner guaranteeing one record per person). Conflicts are counted and
  reported by kind, never with values.
* ``conflict_resolution: split`` re-clusters a conflicting component by constrained merging: its edges are
  taken strongest first and two clusters merge unless the result would be a conflict, so only the links
  that would join conflicting records are refused (records uninvolved keep their strongest links).
  ``flag`` keeps the component whole and reports it.
* Clerical decisions (optional): ``must_link`` pairs are edges that always hold, at every threshold, taken
  before every scored edge in the order given; a reviewer's decision outranks the automatic conflict rules,
  so must-linked records stay together even if they hold two NINOs (the component is still reported).
  ``cannot_link`` pairs make a conflict kind ``cannot_link``: a component holding both ends of one is
  re-clustered by the constrained merge (also under ``conflict_resolution: flag``, which flags only the
  automatic kinds), which refuses any merge uniting a cannot-link pair. When must-link decisions contradict
  a cannot-link decision (directly or through a chain of must-links), the cannot-link is honoured: the
  must-link edge that would unite the pair (the later one in the given order) is refused and the component
  is reported as a ``clerical_conflict`` row (count: must-link pairs refused, resolution
  ``cannot_link_honoured``) for a reviewer to settle. Neither decision is ever dropped silently.
* ``pace_id`` = ``id_prefix`` + first 16 hex characters of SHA-256 of the smallest member key
  ``source + "\\x1f" + record_id``: deterministic, independent of row order, and unchanged when a cluster
  merely gains members that sort after its smallest key.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from rapidfuzz.distance import DamerauLevenshtein
from scipy import sparse
from scipy.sparse.csgraph import connected_components

from pace_linkage.counting import distinct_ints
from pace_linkage.engine.blocking import column_codes
from pace_linkage.engine.near import near_pairs
from pace_linkage.engine.settings import ClusteringSettings
from pace_linkage.errors import LinkageError
from pace_linkage.schema import LEFT, MATCH_PROBABILITY, MATCH_WEIGHT, RECORD_ID, RIGHT, SOURCE

KEY_SEP = "\x1f"


@dataclass
class ClusterResult:
    clusters: pd.DataFrame  # source, record_id, pace_id, pace_id_<name>...
    conflicts: pd.DataFrame  # clustering, pace_id, kind, count, resolution
    stats: dict = field(default_factory=dict)
    # the conflict fields' values as codes (records in the clusters' order), kept for what reads them again
    field_values: dict = field(default_factory=dict, repr=False)


def _components(n: int, l_: np.ndarray, r_: np.ndarray) -> np.ndarray:
    g = sparse.coo_matrix((np.ones(len(l_), np.int8), (l_, r_)), shape=(n, n)).tocsr()
    return connected_components(g, directed=False)[1].astype(np.int64)


class FieldValues:
    """The distinct values of one conflict field as codes per record, and whether two of them count as different.

    Made from the values (:meth:`of`), or from codes and the pairs of codes within the tolerance
    (:meth:`from_codes`, e.g. read back from a run folder, which holds no value): the same answers.
    """

    def __init__(self, codes: np.ndarray, tolerance: int, uniques: np.ndarray | None = None,
                 near: np.ndarray | None = None):
        self.codes = np.asarray(codes, dtype=np.int64)
        self.uniques = uniques
        self.tolerance = int(tolerance)
        self.near = None if near is None else {(int(a), int(b)) for a, b in np.asarray(near).reshape(-1, 2)}
        self._memo: dict[tuple[int, int], bool] = {}

    @classmethod
    def of(cls, values: pd.Series, tolerance: int) -> FieldValues:
        codes, uniques = pd.factorize(values, use_na_sentinel=True)
        return cls(codes, tolerance, uniques=np.asarray(uniques, dtype=object))

    @classmethod
    def from_codes(cls, codes: np.ndarray, tolerance: int, near: np.ndarray) -> FieldValues:
        return cls(codes, tolerance, near=near)

    def near_pairs(self) -> np.ndarray:
        """The pairs of codes within the tolerance (``a < b``), for :meth:`from_codes`."""
        if self.near is not None:
            return np.array(sorted(self.near), dtype=np.int64).reshape(-1, 2)
        return near_pairs(self.uniques, self.tolerance)

    def differ(self, a: int, b: int) -> bool:
        if a == b:
            return False
        if self.tolerance <= 0:
            return True
        key = (a, b) if a < b else (b, a)
        if self.near is not None:
            return key not in self.near
        if key not in self._memo:
            d = DamerauLevenshtein.distance(str(self.uniques[a]), str(self.uniques[b]))
            self._memo[key] = d > self.tolerance
        return self._memo[key]

    def any_differ(self, xs, ys) -> bool:
        return any(self.differ(x, y) for x in xs for y in ys)


def _conflicts(
    labels: np.ndarray, settings: ClusteringSettings, field_codes: Mapping[str, FieldValues],
    dup_free: np.ndarray | None, source_codes: np.ndarray,
) -> list[tuple[np.ndarray, np.ndarray, str]]:
    """Per conflict kind: (component labels in conflict, counts, kind)."""
    out = []
    n_labels = int(labels.max()) + 1 if len(labels) else 0
    sizes = np.bincount(labels, minlength=n_labels)
    big = np.flatnonzero(sizes > settings.max_cluster_size)
    if len(big):
        out.append((big, sizes[big], "max_cluster_size"))
    for name, vals in field_codes.items():
        codes = vals.codes
        ok = codes >= 0
        if not ok.any():
            continue
        width = int(codes.max()) + 1
        distinct = distinct_ints(labels[ok] * width + codes[ok])
        per_label = np.bincount(distinct // width, minlength=n_labels)
        bad = np.flatnonzero(per_label > 1)
        if len(bad) and vals.tolerance > 0:  # near-identical values (keying errors) are one value
            in_bad = np.isin(distinct // width, bad)  # only the components holding several values
            groups = pd.Series(distinct[in_bad] % width).groupby(distinct[in_bad] // width).agg(list)
            keep = [b for b in bad if vals.any_differ(groups[b], groups[b])]
            bad = np.asarray(keep, dtype=np.int64)
        if len(bad):
            out.append((bad, per_label[bad], f"conflicting_{name}"))
    if dup_free is not None and dup_free.any():
        width = int(source_codes.max()) + 1
        combo = labels[dup_free] * width + source_codes[dup_free]
        uniq, cnt = np.unique(combo, return_counts=True)
        over = uniq[cnt > 1] // width
        if len(over):
            bad, inv = np.unique(over, return_inverse=True)
            n_rec = np.bincount(inv, weights=cnt[cnt > 1]).astype(np.int64)
            out.append((bad, n_rec, "duplicate_free_source"))
    return out


def _cluster_at(
    n: int, l_: np.ndarray, r_: np.ndarray, w: np.ndarray, settings: ClusteringSettings,
    field_codes: Mapping[str, FieldValues], dup_free: np.ndarray | None, source_codes: np.ndarray,
    n_must: int = 0, cannot: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[np.ndarray, list[tuple[np.ndarray, np.ndarray, str]], int]:
    """Component label per record for the given edges (the first ``n_must`` are must-link edges);
    conflicts found (clerical conflicts under the component labels before resolution); edges cut."""
    labels = _components(n, l_, r_)
    found = _conflicts(labels, settings, field_codes, dup_free, source_codes)
    clerical_bad = np.empty(0, np.int64)
    if cannot is not None and len(cannot[0]):
        same = labels[cannot[0]] == labels[cannot[1]]
        if same.any():
            clerical_bad, cnt = np.unique(labels[cannot[0][same]], return_counts=True)
            found.append((clerical_bad, cnt, "cannot_link"))
    flag = settings.conflict_resolution == "flag"
    if not found or (flag and not len(clerical_bad)):
        return labels, [(bad, cnt, kind) for bad, cnt, kind in found], 0
    # flag: only the components breaking a cannot-link decision are re-clustered, by the decisions alone
    bad_labels = clerical_bad if flag else distinct_ints(np.concatenate([b for b, _, _ in found]))
    nodes = np.flatnonzero(np.isin(labels, bad_labels))
    e_idx = np.flatnonzero(np.isin(labels[l_], bad_labels))
    local = np.full(n, -1, dtype=np.int64)
    local[nodes] = np.arange(len(nodes))
    local_cannot = None
    if cannot is not None and len(cannot[0]):
        inside = (local[cannot[0]] >= 0) & (local[cannot[1]] >= 0)
        local_cannot = (local[cannot[0][inside]], local[cannot[1][inside]])
    sub, kept, refused = _constrained_merge(
        len(nodes), local[l_[e_idx]], local[r_[e_idx]], w[e_idx],
        len(nodes) + 1 if flag else settings.max_cluster_size,
        [] if flag else [(v, v.codes[nodes]) for v in field_codes.values()], source_codes[nodes],
        None if flag or dup_free is None else dup_free[nodes],
        must=e_idx < n_must if n_must else None, cannot=local_cannot,
    )
    if len(refused):
        bad, cnt = np.unique(labels[l_[e_idx[refused]]], return_counts=True)
        found.append((bad, cnt, "clerical_conflict"))
    labels = labels.copy()
    labels[nodes] = int(labels.max()) + 1 + sub
    return labels, found, int(len(e_idx) - kept)


def cluster_labels(n: int, left: np.ndarray, right: np.ndarray, prob: np.ndarray, weight: np.ndarray,
                   threshold: float, settings: ClusteringSettings, field_values: Mapping[str, FieldValues],
                   duplicate_free: np.ndarray | None, source_codes: np.ndarray) -> np.ndarray:
    """The cluster label of each of ``n`` records at ``threshold``, as :func:`cluster` makes its clusters (the
    same conflict rules, no clerical decisions), without ids: for figures at many thresholds."""
    sel = prob >= threshold
    labels, _, _ = _cluster_at(n, left[sel].astype(np.int64), right[sel].astype(np.int64), weight[sel], settings,
                               field_values, duplicate_free, source_codes)
    return labels


def _cannot_clash(a: set, b: set) -> bool:
    """Whether two clusters hold the two ends of one cannot-link pair (tokens ``2c`` and ``2c + 1``)."""
    small, big = (a, b) if len(a) <= len(b) else (b, a)
    return any((t ^ 1) in big for t in small)


def _constrained_merge(
    n: int, l_: np.ndarray, r_: np.ndarray, w: np.ndarray, max_size: int,
    field_codes: list[tuple[FieldValues, np.ndarray]], source_codes: np.ndarray, dup_free: np.ndarray | None,
    must: np.ndarray | None = None, cannot: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[np.ndarray, int, np.ndarray]:
    """Re-cluster the records of conflicting components: take their edges strongest first (ties in pair
    order) and merge two clusters unless the merged cluster would be a conflict (two different values of
    a conflict field, two records of one duplicate-free source, or more than ``max_size`` records).
    Only the merges that would create a conflict are refused, so records not involved in a conflict keep
    their strongest links. Runs only on conflicting components (a small share of records), so the loop
    over their edges is not on the hot path.

    With clerical decisions: ``must`` marks must-link edges, taken first (in their given order) and refused
    only when they would unite a ``cannot`` pair (local (l, r) arrays); every merge uniting a cannot-link
    pair is refused. Returns (label per node, edges kept, indices of the must-link edges refused)."""
    parent = np.arange(n)
    size = np.ones(n, dtype=np.int64)
    # per field, the set of distinct value codes held by each cluster root
    held = [(vals, [({int(c)} if c >= 0 else set()) for c in codes]) for vals, codes in field_codes]
    dsrc: list[set] = [({int(source_codes[i])} if dup_free is not None and dup_free[i] else set()) for i in range(n)]
    no_cl = cannot is None or not len(cannot[0])
    cl: list[set] = [set() for _ in range(0 if no_cl else n)]
    if not no_cl:
        for c, (a, b) in enumerate(zip(cannot[0].tolist(), cannot[1].tolist(), strict=True)):
            cl[a].add(2 * c)
            cl[b].add(2 * c + 1)

    def find(x: int) -> int:
        root = x
        while parent[root] != root:
            root = parent[root]
        while parent[x] != root:
            parent[x], x = root, parent[x]
        return root

    kept, refused = 0, []
    if must is None or not must.any():
        must = np.zeros(len(l_), dtype=bool)
        order = np.lexsort((r_, l_, -w))
    else:  # must-link edges first, in their given order
        rest = np.flatnonzero(~must)
        order = np.r_[np.flatnonzero(must), rest[np.lexsort((r_[rest], l_[rest], -w[rest]))]]
    for e in order:
        a, b = find(int(l_[e])), find(int(r_[e]))
        if a == b:
            kept += 1
            continue
        if not no_cl and _cannot_clash(cl[a], cl[b]):
            if must[e]:
                refused.append(int(e))
            continue
        if not must[e]:
            if size[a] + size[b] > max_size:
                continue
            if any(vals.any_differ(h[a], h[b]) for vals, h in held):
                continue
            if dsrc[a] & dsrc[b]:
                continue
        if size[a] < size[b]:
            a, b = b, a
        parent[b] = a
        size[a] += size[b]
        for _, h in held:
            h[a] |= h[b]
        dsrc[a] |= dsrc[b]
        if not no_cl:
            cl[a] |= cl[b]
        kept += 1
    roots = np.array([find(i) for i in range(n)], dtype=np.int64)
    labels = np.unique(roots, return_inverse=True)[1].astype(np.int64)
    return labels, kept, np.asarray(refused, dtype=np.int64)


def _pace_ids(keys: np.ndarray, labels: np.ndarray, key_rank: np.ndarray, id_prefix: str, cache: dict) -> np.ndarray:
    """pace_id per record: hash of the smallest member key of its cluster."""
    min_rank = pd.Series(key_rank).groupby(labels).transform("min").to_numpy()
    order = np.argsort(key_rank)  # rank -> record position
    rep = order[min_rank]
    hashes = cache.get("hashes")
    if hashes is None:
        hashes = np.full(len(keys), None, dtype=object)
        cache["hashes"] = hashes
    need = distinct_ints(rep)
    need = need[pd.isna(hashes[need])]
    # surrogatepass: the UTF-8 bytes of every valid key, and no crash on a lone surrogate (the readers quarantine
    # such rows; a frame handed to the engine directly may still hold one)
    hashes[need] = [id_prefix + hashlib.sha256(k.encode("utf-8", "surrogatepass")).hexdigest()[:16]
                    for k in keys[need]]
    return hashes[rep]


def _resolution(kind: str, settings: ClusteringSettings) -> str:
    if kind == "clerical_conflict":
        return "cannot_link_honoured"
    if kind == "cannot_link":
        return "split"  # a clerical decision is honoured whatever conflict_resolution says
    return "split" if settings.conflict_resolution == "split" else "flagged"


def _decision_pairs(pairs, n: int, name: str) -> tuple[np.ndarray, np.ndarray] | None:
    """Validate clerical (l, r) position arrays; None when absent or empty."""
    if pairs is None:
        return None
    if len(pairs) != 2:
        raise LinkageError(f"cluster: {name} must be a pair of position arrays (l, r)")
    l_ = np.asarray(pairs[0], dtype=np.int64).ravel()
    r_ = np.asarray(pairs[1], dtype=np.int64).ravel()
    if len(l_) != len(r_):
        raise LinkageError(f"cluster: {name} arrays l and r have different lengths")
    if len(l_) == 0:
        return None
    if l_.min() < 0 or r_.min() < 0 or l_.max() >= n or r_.max() >= n:
        raise LinkageError(f"cluster: {name} holds a position outside the records")
    if (l_ == r_).any():
        raise LinkageError(f"cluster: {name} pairs a record with itself")
    return l_, r_


def _checked_inputs(records: pd.DataFrame, settings: ClusteringSettings, duplicate_free,
                    field_values: Mapping[str, FieldValues] | None = None) -> np.ndarray | None:
    """Records carry source, record_id and every conflict field; ``duplicate_free`` (as bool) has one value
    per record."""
    for col in (SOURCE, RECORD_ID):
        if col not in records.columns:
            raise LinkageError(f"cluster: records have no '{col}' column")
    held = records.columns if field_values is None else field_values.keys()
    missing = [c for c in settings.conflict_fields if c not in held]
    if missing:
        raise LinkageError(f"cluster: conflict field(s) {', '.join(missing)} not in the records")
    if duplicate_free is not None:
        duplicate_free = np.asarray(duplicate_free, dtype=bool)
        if len(duplicate_free) != len(records):
            raise LinkageError("cluster: duplicate_free must have one value per record")
    return duplicate_free


def cluster(
    records: pd.DataFrame,
    scored_pairs: pd.DataFrame,
    threshold: float,
    settings: ClusteringSettings | None = None,
    named_thresholds: Mapping[str, float] | None = None,
    id_prefix: str = "P",
    duplicate_free: np.ndarray | None = None,
    id_column: str = "pace_id",
    must_link: tuple[np.ndarray, np.ndarray] | None = None,
    cannot_link: tuple[np.ndarray, np.ndarray] | None = None,
    field_values: Mapping[str, FieldValues] | None = None,
) -> ClusterResult:
    """Cluster records at ``threshold`` (column ``pace_id``) and at each named threshold
    (``pace_id_<name>``). ``duplicate_free`` is an optional per-record bool array marking records of
    duplicate-free sources. ``must_link`` / ``cannot_link`` are clerical decisions as (l, r) position
    arrays (see the module docstring for how they are honoured). ``field_values`` (conflict field ->
    :class:`FieldValues`) stands in for the records' conflict field columns, which are then not read."""
    settings = settings or ClusteringSettings()
    named_thresholds = dict(named_thresholds or {})
    n = len(records)
    duplicate_free = _checked_inputs(records, settings, duplicate_free, field_values)
    keys = (records[SOURCE].astype(str) + KEY_SEP + records[RECORD_ID].astype(str)).to_numpy(dtype=object)
    if pd.Series(keys).duplicated().any():
        raise LinkageError("cluster: (source, record_id) is not unique")
    key_rank = np.empty(n, dtype=np.int64)
    key_rank[np.argsort(keys, kind="stable")] = np.arange(n)
    field_codes = dict(field_values) if field_values is not None else {
        c: FieldValues.of(records[c], settings.conflict_tolerance.get(c, 0)) for c in settings.conflict_fields}
    source_codes = column_codes(records[SOURCE])
    must = _decision_pairs(must_link, n, "must_link")
    cannot = _decision_pairs(cannot_link, n, "cannot_link")
    l_all = scored_pairs[LEFT].to_numpy()  # as they are (int32): only each threshold's edges are widened
    r_all = scored_pairs[RIGHT].to_numpy()
    prob = scored_pairs[MATCH_PROBABILITY].to_numpy(np.float64)
    weight = scored_pairs[MATCH_WEIGHT].to_numpy(np.float64) if MATCH_WEIGHT in scored_pairs else prob

    out = pd.DataFrame({SOURCE: records[SOURCE].to_numpy(), RECORD_ID: records[RECORD_ID].to_numpy()})
    conflict_rows, stats, id_cache = [], {"records": n, "candidate_pairs": int(len(scored_pairs))}, {}
    runs = [(id_column, threshold)] + [(f"{id_column}_{k}", v) for k, v in sorted(named_thresholds.items())]
    for col, thr in runs:
        sel = prob >= thr
        l_thr, r_thr, w_thr = l_all[sel].astype(np.int64), r_all[sel].astype(np.int64), weight[sel]
        if must is not None:  # must-link edges first, at every threshold
            l_thr, r_thr = np.r_[must[0], l_thr], np.r_[must[1], r_thr]
            w_thr = np.r_[np.full(len(must[0]), np.inf), w_thr]
        labels, found, cut = _cluster_at(n, l_thr, r_thr, w_thr, settings, field_codes, duplicate_free,
                                         source_codes, 0 if must is None else len(must[0]), cannot)
        ids = _pace_ids(keys, labels, key_rank, id_prefix, id_cache)
        out[col] = ids
        # conflicts are reported under the id of the original component's smallest member
        if found:
            base_labels = _components(n, l_thr, r_thr)
            base_ids = _pace_ids(keys, base_labels, key_rank, id_prefix, id_cache)
            first_member = pd.Series(np.arange(n)).groupby(base_labels).min()
            for bad, cnt, kind in found:
                for b, c in zip(bad, cnt, strict=True):
                    conflict_rows.append({
                        "clustering": col, "pace_id": base_ids[first_member[b]], "kind": kind, "count": int(c),
                        "resolution": _resolution(kind, settings),
                    })
        sizes = pd.Series(ids).value_counts().to_numpy()
        stats[col] = {
            "threshold": float(thr),
            "edges": int(sel.sum()),
            "clusters": int(len(sizes)),
            "singletons": int((sizes == 1).sum()),
            "largest_cluster": int(sizes.max()) if len(sizes) else 0,
            "conflicts": int(sum(len(b) for b, _, _ in found)),
            "edges_cut": int(cut),
        }
        if must is not None or cannot is not None:
            stats[col]["must_link_pairs"] = 0 if must is None else int(len(must[0]))
            stats[col]["cannot_link_pairs"] = 0 if cannot is None else int(len(cannot[0]))
    conflicts = pd.DataFrame(conflict_rows, columns=["clustering", "pace_id", "kind", "count", "resolution"])
    conflicts = conflicts.sort_values(["clustering", "pace_id", "kind"], kind="stable").reset_index(drop=True)
    return ClusterResult(clusters=out, conflicts=conflicts, stats=stats, field_values=field_codes)

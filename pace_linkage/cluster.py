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

from pace_linkage.blocking import column_codes
from pace_linkage.config import ClusteringSettings
from pace_linkage.errors import LinkageError
from pace_linkage.schema import LEFT, MATCH_PROBABILITY, MATCH_WEIGHT, RECORD_ID, RIGHT, SOURCE

KEY_SEP = "\x1f"


@dataclass
class ClusterResult:
    clusters: pd.DataFrame  # source, record_id, pace_id, pace_id_<name>...
    conflicts: pd.DataFrame  # clustering, pace_id, kind, count, resolution
    stats: dict = field(default_factory=dict)


def _components(n: int, l_: np.ndarray, r_: np.ndarray) -> np.ndarray:
    g = sparse.coo_matrix((np.ones(len(l_), np.int8), (l_, r_)), shape=(n, n)).tocsr()
    return connected_components(g, directed=False)[1].astype(np.int64)


class _Values:
    """The distinct values of one conflict field, and whether two of them count as different."""

    def __init__(self, values: pd.Series, tolerance: int):
        codes, uniques = pd.factorize(values, use_na_sentinel=True)
        self.codes = codes.astype(np.int64, copy=False)
        self.uniques = np.asarray(uniques, dtype=object)
        self.tolerance = int(tolerance)
        self._memo: dict[tuple[int, int], bool] = {}

    def differ(self, a: int, b: int) -> bool:
        if a == b:
            return False
        if self.tolerance <= 0:
            return True
        key = (a, b) if a < b else (b, a)
        if key not in self._memo:
            d = DamerauLevenshtein.distance(str(self.uniques[a]), str(self.uniques[b]))
            self._memo[key] = d > self.tolerance
        return self._memo[key]

    def any_differ(self, xs, ys) -> bool:
        return any(self.differ(x, y) for x in xs for y in ys)


def _conflicts(
    labels: np.ndarray, settings: ClusteringSettings, field_codes: Mapping[str, _Values],
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
        distinct = np.unique(labels[ok] * width + codes[ok])
        per_label = np.bincount(distinct // width, minlength=n_labels)
        bad = np.flatnonzero(per_label > 1)
        if len(bad) and vals.tolerance > 0:  # near-identical values (keying errors) are one value
            groups = pd.Series(distinct % width).groupby(distinct // width).agg(list)
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
    field_codes: Mapping[str, _Values], dup_free: np.ndarray | None, source_codes: np.ndarray,
) -> tuple[np.ndarray, list[tuple[np.ndarray, np.ndarray, str]], int]:
    """Component label per record for the given edges; conflicts found; number of edges cut."""
    labels = _components(n, l_, r_)
    found = _conflicts(labels, settings, field_codes, dup_free, source_codes)
    if settings.conflict_resolution == "flag" or not found:
        return labels, [(bad, cnt, kind) for bad, cnt, kind in found], 0
    bad_labels = np.unique(np.concatenate([b for b, _, _ in found]))
    nodes = np.flatnonzero(np.isin(labels, bad_labels))
    e_idx = np.flatnonzero(np.isin(labels[l_], bad_labels))
    local = np.full(n, -1, dtype=np.int64)
    local[nodes] = np.arange(len(nodes))
    sub, kept = _constrained_merge(
        len(nodes), local[l_[e_idx]], local[r_[e_idx]], w[e_idx], settings.max_cluster_size,
        [(v, v.codes[nodes]) for v in field_codes.values()], source_codes[nodes],
        dup_free[nodes] if dup_free is not None else None,
    )
    labels = labels.copy()
    labels[nodes] = int(labels.max()) + 1 + sub
    return labels, found, int(len(e_idx) - kept)


def _constrained_merge(
    n: int, l_: np.ndarray, r_: np.ndarray, w: np.ndarray, max_size: int,
    field_codes: list[tuple[_Values, np.ndarray]], source_codes: np.ndarray, dup_free: np.ndarray | None,
) -> tuple[np.ndarray, int]:
    """Re-cluster the records of conflicting components: take their edges strongest first (ties in pair
    order) and merge two clusters unless the merged cluster would be a conflict (two different values of
    a conflict field, two records of one duplicate-free source, or more than ``max_size`` records).
    Only the merges that would create a conflict are refused, so records not involved in a conflict keep
    their strongest links. Runs only on conflicting components (a small share of records), so the loop
    over their edges is not on the hot path. Returns (label per node, edges kept)."""
    parent = np.arange(n)
    size = np.ones(n, dtype=np.int64)
    # per field, the set of distinct value codes held by each cluster root
    held = [(vals, [({int(c)} if c >= 0 else set()) for c in codes]) for vals, codes in field_codes]
    dsrc: list[set] = [({int(source_codes[i])} if dup_free is not None and dup_free[i] else set()) for i in range(n)]

    def find(x: int) -> int:
        root = x
        while parent[root] != root:
            root = parent[root]
        while parent[x] != root:
            parent[x], x = root, parent[x]
        return root

    kept = 0
    for e in np.lexsort((r_, l_, -w)):
        a, b = find(int(l_[e])), find(int(r_[e]))
        if a == b:
            kept += 1
            continue
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
        kept += 1
    roots = np.array([find(i) for i in range(n)], dtype=np.int64)
    return np.unique(roots, return_inverse=True)[1].astype(np.int64), kept


def _pace_ids(keys: np.ndarray, labels: np.ndarray, key_rank: np.ndarray, id_prefix: str, cache: dict) -> np.ndarray:
    """pace_id per record: hash of the smallest member key of its cluster."""
    min_rank = pd.Series(key_rank).groupby(labels).transform("min").to_numpy()
    order = np.argsort(key_rank)  # rank -> record position
    rep = order[min_rank]
    hashes = cache.get("hashes")
    if hashes is None:
        hashes = np.full(len(keys), None, dtype=object)
        cache["hashes"] = hashes
    need = np.unique(rep)
    need = need[pd.isna(hashes[need])]
    hashes[need] = [id_prefix + hashlib.sha256(k.encode("utf-8")).hexdigest()[:16] for k in keys[need]]
    return hashes[rep]


def cluster(
    records: pd.DataFrame,
    scored_pairs: pd.DataFrame,
    threshold: float,
    settings: ClusteringSettings | None = None,
    named_thresholds: Mapping[str, float] | None = None,
    id_prefix: str = "P",
    duplicate_free: np.ndarray | None = None,
    id_column: str = "pace_id",
) -> ClusterResult:
    """Cluster records at ``threshold`` (column ``pace_id``) and at each named threshold
    (``pace_id_<name>``). ``duplicate_free`` is an optional per-record bool array marking records of
    duplicate-free sources."""
    settings = settings or ClusteringSettings()
    named_thresholds = dict(named_thresholds or {})
    n = len(records)
    for col in (SOURCE, RECORD_ID):
        if col not in records.columns:
            raise LinkageError(f"cluster: records have no '{col}' column")
    missing = [c for c in settings.conflict_fields if c not in records.columns]
    if missing:
        raise LinkageError(f"cluster: conflict field(s) {', '.join(missing)} not in the records")
    if duplicate_free is not None:
        duplicate_free = np.asarray(duplicate_free, dtype=bool)
        if len(duplicate_free) != n:
            raise LinkageError("cluster: duplicate_free must have one value per record")
    keys = (records[SOURCE].astype(str) + KEY_SEP + records[RECORD_ID].astype(str)).to_numpy(dtype=object)
    if pd.Series(keys).duplicated().any():
        raise LinkageError("cluster: (source, record_id) is not unique")
    key_rank = np.empty(n, dtype=np.int64)
    key_rank[np.argsort(keys, kind="stable")] = np.arange(n)
    field_codes = {c: _Values(records[c], settings.conflict_tolerance.get(c, 0)) for c in settings.conflict_fields}
    source_codes = column_codes(records[SOURCE])
    l_all = scored_pairs[LEFT].to_numpy(np.int64)
    r_all = scored_pairs[RIGHT].to_numpy(np.int64)
    prob = scored_pairs[MATCH_PROBABILITY].to_numpy(np.float64)
    weight = scored_pairs[MATCH_WEIGHT].to_numpy(np.float64) if MATCH_WEIGHT in scored_pairs else prob

    out = pd.DataFrame({SOURCE: records[SOURCE].to_numpy(), RECORD_ID: records[RECORD_ID].to_numpy()})
    conflict_rows, stats, id_cache = [], {"records": n, "candidate_pairs": int(len(scored_pairs))}, {}
    runs = [(id_column, threshold)] + [(f"{id_column}_{k}", v) for k, v in sorted(named_thresholds.items())]
    for col, thr in runs:
        sel = prob >= thr
        labels, found, cut = _cluster_at(n, l_all[sel], r_all[sel], weight[sel], settings, field_codes,
                                         duplicate_free, source_codes)
        ids = _pace_ids(keys, labels, key_rank, id_prefix, id_cache)
        out[col] = ids
        # conflicts are reported under the id of the original component's smallest member
        if found:
            base_labels = _components(n, l_all[sel], r_all[sel])
            base_ids = _pace_ids(keys, base_labels, key_rank, id_prefix, id_cache)
            first_member = pd.Series(np.arange(n)).groupby(base_labels).min()
            for bad, cnt, kind in found:
                for b, c in zip(bad, cnt, strict=True):
                    conflict_rows.append({
                        "clustering": col, "pace_id": base_ids[first_member[b]], "kind": kind, "count": int(c),
                        "resolution": "split" if settings.conflict_resolution == "split" else "flagged",
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
    conflicts = pd.DataFrame(conflict_rows, columns=["clustering", "pace_id", "kind", "count", "resolution"])
    conflicts = conflicts.sort_values(["clustering", "pace_id", "kind"], kind="stable").reset_index(drop=True)
    return ClusterResult(clusters=out, conflicts=conflicts, stats=stats)

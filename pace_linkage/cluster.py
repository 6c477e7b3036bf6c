"""Cluster: turn scored pairs into one ``pace_id`` per person.

Rules:

* Clusters are the connected components of the graph whose edges are the pairs with
  ``match_probability >= threshold`` (scipy.sparse.csgraph). Every record gets exactly one id; records
  with no edge are singletons.
* A component is a *conflict* when it is larger than ``max_cluster_size``, or holds two different non-null
  values of a ``conflict_fields`` column (e.g. two different valid NINOs), or two records of a
  ``duplicate_free`` source (a partner guaranteeing one record per person). Conflicts are counted and
  reported by kind, never with values.
* ``conflict_resolution: split`` cuts a conflicting component's weakest edges: inside that component the
  threshold is raised step by step (each step removes the edges at the component's lowest match weight)
  until no sub-component is in conflict. All conflicting components step together. ``flag`` keeps them.
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


def _conflicts(
    labels: np.ndarray, settings: ClusteringSettings, field_codes: Mapping[str, np.ndarray],
    dup_free: np.ndarray | None, source_codes: np.ndarray,
) -> list[tuple[np.ndarray, np.ndarray, str]]:
    """Per conflict kind: (component labels in conflict, counts, kind)."""
    out = []
    n_labels = int(labels.max()) + 1 if len(labels) else 0
    sizes = np.bincount(labels, minlength=n_labels)
    big = np.flatnonzero(sizes > settings.max_cluster_size)
    if len(big):
        out.append((big, sizes[big], "max_cluster_size"))
    for name, codes in field_codes.items():
        ok = codes >= 0
        if not ok.any():
            continue
        width = int(codes.max()) + 1
        distinct = np.unique(labels[ok] * width + codes[ok])
        per_label = np.bincount(distinct // width, minlength=n_labels)
        bad = np.flatnonzero(per_label > 1)
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
    field_codes: Mapping[str, np.ndarray], dup_free: np.ndarray | None, source_codes: np.ndarray,
) -> tuple[np.ndarray, list[tuple[np.ndarray, np.ndarray, str]], int]:
    """Component label per record for the given edges; conflicts found; number of edges cut."""
    labels = _components(n, l_, r_)
    found = _conflicts(labels, settings, field_codes, dup_free, source_codes)
    if settings.conflict_resolution == "flag" or not found:
        return labels, [(bad, cnt, kind) for bad, cnt, kind in found], 0
    cut = 0
    bad_labels = np.unique(np.concatenate([b for b, _, _ in found]))
    next_label = int(labels.max()) + 1
    edge_label = labels[l_]
    active = np.isin(edge_label, bad_labels)
    e_idx = np.flatnonzero(active)
    node_active = np.isin(labels, bad_labels)
    for _ in range(1_000_000):
        if not node_active.any():
            break
        # raise the threshold inside each conflicting component: drop its weakest edges
        el = labels[l_[e_idx]]
        if len(e_idx):
            minw = pd.Series(w[e_idx]).groupby(el).transform("min").to_numpy()
            keep = w[e_idx] > minw
            cut += int((~keep).sum())
            e_idx = e_idx[keep]
        # re-label the active sub-graph
        nodes = np.flatnonzero(node_active)
        local = np.full(n, -1, dtype=np.int64)
        local[nodes] = np.arange(len(nodes))
        sub = _components(len(nodes), local[l_[e_idx]], local[r_[e_idx]])
        labels[nodes] = next_label + sub
        next_label += int(sub.max()) + 1 if len(sub) else 0
        # which of the new components still conflict?
        sub_fields = {k: v[nodes] for k, v in field_codes.items()}
        sub_dup = dup_free[nodes] if dup_free is not None else None
        still = _conflicts(sub, settings, sub_fields, sub_dup, source_codes[nodes])
        if not still:
            break
        still_bad = np.unique(np.concatenate([b for b, _, _ in still])) + (next_label - int(sub.max()) - 1)
        node_active = np.zeros(n, dtype=bool)
        node_active[nodes[np.isin(labels[nodes], still_bad)]] = True
        e_idx = e_idx[node_active[l_[e_idx]]]
    else:  # pragma: no cover - each step removes at least one edge
        raise LinkageError("cluster: conflict resolution did not terminate")
    return labels, found, cut


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
    field_codes = {c: column_codes(records[c]) for c in settings.conflict_fields}
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

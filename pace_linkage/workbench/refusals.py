"""Why a link at or above the threshold did not join two clusters.

Clustering takes a component's links strongest first and refuses a merge that would make a conflict (see
:mod:`pace_linkage.engine.cluster`): more than ``max_cluster_size`` records, two different values of a conflict
field (beyond its edit tolerance), two records of a duplicate-free source. A refused link is one scored at or
above the threshold whose two records end in different clusters. Clusters only grow as links are taken, so
whatever refused the merge at the time still holds between the two final clusters: every rule that holds between
them is given as a reason (at least one does). Reasons name the rule and the field, never a value.
"""

from __future__ import annotations

import numpy as np

from pace_linkage.schema import LEFT, MATCH_PROBABILITY, RIGHT, SOURCE

MAX_SHOWN = 50  # refused links listed for one cluster, strongest first


def _reasons(bench, members: np.ndarray, others: np.ndarray) -> list[str]:
    settings = bench.clustering.settings
    out = []
    if len(members) + len(others) > settings.max_cluster_size:
        out.append(f"size limit: together {len(members) + len(others)} records, over max_cluster_size "
                   f"{settings.max_cluster_size}")
    for name, values in bench.clustering.field_values.items():
        a = {int(c) for c in values.codes[members] if c >= 0}
        b = {int(c) for c in values.codes[others] if c >= 0}
        if a and b and values.any_differ(a, b):
            out.append(f"conflict: two different {name} values")
    dup = bench.clustering.duplicate_free
    if dup.any():
        src = bench.run.records[SOURCE].to_numpy()
        shared = set(src[members[dup[members]]]) & set(src[others[dup[others]]])
        out.extend(f"duplicate-free source: both clusters hold a record of {s}" for s in sorted(shared))
    return out or ["no conflict rule holds between the two clusters as they are now"]


def refused_links(bench, labels: np.ndarray, at: int, threshold: float) -> list[dict]:
    """The links at or above ``threshold`` from the cluster of record ``at`` (``labels``: every record's
    cluster at ``threshold``) to other clusters, strongest first, each with the other cluster's size and the
    reasons the merge was refused."""
    if bench.clustering.settings.conflict_resolution == "flag":
        return []  # flagged components are kept whole: nothing is refused
    pairs = bench.run.pairs
    left, right = pairs[LEFT].to_numpy(), pairs[RIGHT].to_numpy()
    prob = pairs[MATCH_PROBABILITY].to_numpy()
    mine = labels[at]
    crossing = np.flatnonzero((prob >= threshold) & ((labels[left] == mine) != (labels[right] == mine)))
    crossing = crossing[np.argsort(-prob[crossing], kind="stable")][:MAX_SHOWN]
    members = np.flatnonzero(labels == mine)
    out = []
    for i in crossing:
        other = int(right[i]) if labels[left[i]] == mine else int(left[i])
        others = np.flatnonzero(labels == labels[other])
        out.append({"pair": int(i), "probability": round(float(prob[i]), 6), "other_cluster_records": int(len(others)),
                    "reasons": _reasons(bench, members, others)})
    return out


__all__ = ["MAX_SHOWN", "refused_links"]

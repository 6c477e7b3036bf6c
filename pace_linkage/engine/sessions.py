"""Training sessions: m by EM per session (Splink's EM training sessions), collapsed sessions dropped.

A session is a blocking rule and the record pairs it blocks together. By default (``linkage.em.sessions``
absent) there is one session per blocking rule, on the candidate pairs that satisfy it -- the prediction rules
train the model. With ``linkage.em.sessions`` the training rules are the user's own, apart from the prediction
rules: each session's pairs are the pairs its rule blocks among all the records (compared here, a chunk at a
time, so only their gamma pattern counts are held), whatever the candidate pairs are.

In a session, EM runs with u fixed (from random pairs) on the comparisons the session's rule does not read
(inside the block the others agree by construction); each comparison's m is the mean over the kept sessions
that estimated it.

A session *collapses* when its pairs do not hold two classes EM can tell apart as matches and non-matches:
on a broad, household-like rule (surname + postcode, where family members share a surname, an address, a
phone...), pairs of different people agree on more than random pairs do; u being fixed, the non-match class
cannot explain them, so the match class swallows them -- lambda runs to 1 and m(first name exact) falls to the
share of pairs that happen to agree on it. Such a session is dropped, with a warning naming its rule, when

* its lambda runs to the edge: EM leaves fewer than ``min_class_pairs`` (1) expected pairs in the match
  or the non-match class (lambda above ``1 - 1/pairs`` or below ``1/pairs``); or
* the m of a comparison's first (strictest) agreement level, observed in its pairs, falls below its u.

Every session's lambda, m, and whether it was kept (and why not) go to the model's ``info["sessions"]``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from pace_linkage.engine.blocking import rule_pairs
from pace_linkage.engine.columns import ColumnCache
from pace_linkage.engine.compare import compare
from pace_linkage.engine.em import (
    comparison_read_columns,
    gamma_patterns,
    level_counts,
    levels_per_comparison,
    related,
    run_em_multistart,
)
from pace_linkage.engine.model import level_labels
from pace_linkage.engine.settings import BlockingRule, ComparisonSpec, EMSettings, LinkageSettings
from pace_linkage.schema import LEFT, RIGHT

log = logging.getLogger(__name__)
MIN_SESSION_PAIRS = 10


@dataclass
class SessionPairs:
    """The gamma patterns of one session's pairs: ``G`` distinct patterns, ``counts`` pairs per pattern."""

    name: str
    rule: BlockingRule
    G: np.ndarray  # (P, K) int64
    counts: np.ndarray  # (P,) float
    n_pairs: int
    source: str  # "candidates": the candidate pairs satisfying a blocking rule; "records": its own pairs


def candidate_sessions(G: np.ndarray, rule_counts: np.ndarray, rules: Sequence[BlockingRule]) -> list[SessionPairs]:
    """One session per blocking rule on the candidate pairs satisfying it (``rule_counts[:, i]`` pairs per
    pattern of ``G`` for rule ``i``)."""
    return [SessionPairs(rule.name, rule, G, rule_counts[:, i].astype(float), int(rule_counts[:, i].sum()),
                         "candidates") for i, rule in enumerate(rules)]


def count_patterns(records: pd.DataFrame, l_: np.ndarray, r_: np.ndarray, comps: Sequence[ComparisonSpec],
                   cache: ColumnCache, chunk: int) -> tuple[np.ndarray, np.ndarray]:
    """Distinct gamma patterns of the pairs (l_, r_) and the pairs per pattern, comparing ``chunk`` pairs at a
    time; the same result whatever ``chunk`` is."""
    nlev = levels_per_comparison(comps)
    names = [s.name for s in comps]
    parts_g, parts_c = [], []
    for start in range(0, len(l_), max(int(chunk), 1)):
        pairs = pd.DataFrame({LEFT: l_[start:start + chunk], RIGHT: r_[start:start + chunk]})
        pat = gamma_patterns(compare(records, pairs, comps, cache=cache)[names], nlev)
        parts_g.append(pat.G)
        parts_c.append(np.bincount(pat.inverse, minlength=len(pat.G)))
    if not parts_g:
        return np.zeros((0, len(comps)), np.int64), np.zeros(0)
    pat = gamma_patterns(pd.DataFrame(np.vstack(parts_g), columns=names), nlev)
    counts = np.zeros(len(pat.G))
    np.add.at(counts, pat.inverse, np.concatenate(parts_c).astype(float))
    return pat.G, counts


def record_sessions(records: pd.DataFrame, settings: LinkageSettings, cache: ColumnCache) -> list[SessionPairs]:
    """The sessions of ``linkage.em.sessions``: each on the pairs its rule blocks among all the records."""
    out = []
    for rule in settings.em.sessions or []:
        l_, r_ = rule_pairs(records, rule, settings.link_type, settings.max_pairs_per_rule)
        G, counts = count_patterns(records, l_, r_, settings.comparisons, cache, settings.partition_pairs)
        out.append(SessionPairs(rule.name, rule, G, counts, int(len(l_)), "records"))
    return out


def collapse_reason(lam: float, n_pairs: int, m: Sequence[np.ndarray], u: Sequence[np.ndarray],
                    observed: Sequence[np.ndarray], estimated: Sequence[int], comps: Sequence[ComparisonSpec],
                    em: EMSettings) -> str | None:
    """Why a session's EM result is not to be trusted (see the module docstring), or None. ``observed[k]``:
    the session's pairs per level of comparison ``k``. Names and figures only, never a value."""
    if em.min_class_pairs > 0:
        for cls, expected in (("non-match", (1 - lam) * n_pairs), ("match", lam * n_pairs)):
            if expected < em.min_class_pairs:
                return (f"lambda {lam:.6g} ran to the edge ({expected:.3g} expected {cls} pairs among {n_pairs}: "
                        f"fewer than {em.min_class_pairs:g})")
    if em.check_m_above_u:
        for k in estimated:
            if observed[k][0] > 0 and m[k][0] < u[k][0]:
                label = level_labels(comps[k])[0]
                return (f"m of comparison '{comps[k].name}' level '{label}' ({m[k][0]:.4g}) fell below its u "
                        f"({u[k][0]:.4g})")
    return None


def _session_info(s: SessionPairs, it: int, lam: float, estimated: list[int], m: Sequence[np.ndarray],
                  comps: Sequence[ComparisonSpec], reason: str | None) -> dict:
    return {"rule": s.name, "pairs": s.n_pairs, "source": s.source, "iterations": int(it), "lambda": float(lam),
            "estimated": [comps[k].name for k in estimated],
            "m": {comps[k].name: [round(float(x), 8) for x in m[k]] for k in estimated},
            "kept": reason is None, **({"reason": reason} if reason else {})}


def m_by_sessions(sessions: Sequence[SessionPairs], settings: LinkageSettings, m0: list[np.ndarray],
                  u: list[np.ndarray], all_G: np.ndarray, all_counts: np.ndarray, info: dict) -> list[np.ndarray]:
    """m per comparison: the mean over the kept sessions that estimated it; a comparison no kept session
    estimated is estimated by EM over all candidate pairs (``all_G``, ``all_counts``), u fixed. Each session
    (and the fallback) is recorded in ``info["sessions"]``; a dropped one also in ``info["warnings"]`` and the
    log."""
    comps = list(settings.comparisons)
    em = settings.em
    nlev = levels_per_comparison(comps)
    sums = [np.zeros(L) for L in nlev]
    n_est = np.zeros(len(comps), dtype=int)
    for s in sessions:
        fixed = [related(s.rule.columns(), comparison_read_columns(c)) for c in comps]
        if s.n_pairs < MIN_SESSION_PAIRS or all(fixed):
            info["sessions"].append({"rule": s.name, "pairs": s.n_pairs, "source": s.source, "skipped": True})
            continue
        G_rule = s.G.copy()
        G_rule[:, np.flatnonzero(fixed)] = -1  # agree by construction inside the block: no evidence there
        m_r, _, lam, it, _ = run_em_multistart(G_rule, s.counts, m0, u, fixed, True, em.max_iterations, em.tolerance)
        observed = [level_counts(G_rule[:, k], nlev[k], s.counts) for k in range(len(comps))]
        # a comparison null in (almost) every pair of the session (the rule's sources do not hold it) keeps
        # its starting m there: no estimate
        estimated = [k for k in range(len(comps)) if not fixed[k] and observed[k].sum() >= MIN_SESSION_PAIRS]
        reason = collapse_reason(lam, s.n_pairs, m_r, u, observed, estimated, comps, em)
        info["sessions"].append(_session_info(s, it, lam, estimated, m_r, comps, reason))
        if reason:
            warning = f"training session '{s.name}' dropped: {reason}"
            info.setdefault("warnings", []).append(warning)
            log.warning(warning)
            continue
        for k in estimated:
            sums[k] += m_r[k]
            n_est[k] += 1
    missing = [k for k in range(len(comps)) if n_est[k] == 0]
    if missing:  # no kept session estimated these: EM over all candidates, u fixed
        m_all, _, lam, it, _ = run_em_multistart(all_G, all_counts, m0, u, [False] * len(comps), True,
                                                 em.max_iterations, em.tolerance)
        info["sessions"].append({"rule": "all candidates (fallback)", "pairs": int(all_counts.sum()),
                                 "source": "candidates", "iterations": int(it), "lambda": float(lam),
                                 "estimated": [comps[k].name for k in missing],
                                 "m": {comps[k].name: [round(float(x), 8) for x in m_all[k]] for k in missing},
                                 "kept": True})
        reason = collapse_reason(lam, int(all_counts.sum()), m_all, u, [level_counts(all_G[:, k], nlev[k], all_counts)
                                 for k in range(len(comps))], missing, comps, em)
        if reason:  # nothing better to fall back on: kept, but said
            warning = (f"comparison(s) {', '.join(comps[k].name for k in missing)}: no kept training session "
                       f"estimated their m; EM over all candidate pairs did, and {reason}; add a training session "
                       "(linkage.em.sessions) whose rule does not read them")
            info.setdefault("warnings", []).append(warning)
            log.warning(warning)
        for k in missing:
            sums[k] += m_all[k]
            n_est[k] += 1
    return [sums[k] / n_est[k] for k in range(len(comps))]


def sessions_summary(info: dict) -> dict:
    """What a report shows of training (from a model's ``info``): where the prior came from, and each
    session's pairs, lambda, m per estimated comparison and whether it was kept (and why not); {} when the
    model was not trained by sessions (supervised, or loaded from an older model file)."""
    sessions = info.get("sessions") or []
    if not sessions:
        return {}
    keep = ("rule", "pairs", "source", "iterations", "lambda", "estimated", "m", "kept", "reason", "skipped")
    out = {"sessions": [{k: (round(v, 10) if isinstance(v, float) else v) for k, v in s.items() if k in keep}
                        for s in sessions],
           "warnings": list(info.get("warnings", []))}
    prior = ("prior_source", "prior_rules", "prior_recall", "prior_rule_pairs", "expected_matches")
    out.update({k: info[k] for k in prior if k in info})
    return out

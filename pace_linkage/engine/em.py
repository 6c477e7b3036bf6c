"""The EM maths of Fellegi-Sunter training: level counts with smoothing, distinct gamma patterns, EM over
weighted patterns (from several starting lambdas), the prior on the random-pair scale, and which comparisons a
blocking rule's columns relate to. Pure numpy over arrays; :mod:`pace_linkage.engine.training` and
:mod:`pace_linkage.engine.sessions` use it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from pace_linkage.engine.settings import ComparisonSpec

PSEUDO_COUNT = 1.0
START_LAMBDAS = (0.5, 0.05, 0.005)


def levels_per_comparison(comparisons: Sequence[ComparisonSpec]) -> list[int]:
    """Levels per comparison, the else level included."""
    return [len(s.levels) + 1 for s in comparisons]


def default_m(n_levels: int) -> np.ndarray:
    """Starting m: most mass on the first (strictest) level, halving down the levels, 0.1 on 'else'."""
    k = n_levels - 1
    if k == 0:
        return np.array([1.0])
    w = 0.5 ** np.arange(k)
    return np.r_[0.9 * w / w.sum(), 0.1]

def level_counts(g: np.ndarray, n_levels: int, weights: np.ndarray | None = None) -> np.ndarray:
    valid = g >= 0
    w = None if weights is None else weights[valid]
    return np.bincount(g[valid].astype(np.int64), weights=w, minlength=n_levels)[:n_levels].astype(float)


def normalise(counts: np.ndarray) -> np.ndarray:
    c = counts + PSEUDO_COUNT
    return c / c.sum()

# --------------------------------------------------------------------------------------------------
# Gamma patterns
# --------------------------------------------------------------------------------------------------
@dataclass
class Patterns:
    """Distinct gamma vectors and, per pair, the index of its pattern."""

    G: np.ndarray  # (P, K) int64
    inverse: np.ndarray  # (n_pairs,)


def gamma_patterns(gamma: pd.DataFrame, n_levels: Sequence[int]) -> Patterns:
    """``n_levels`` per comparison counts the else level: gamma + 1 lies in 0..n_levels."""
    radix = [L + 1 for L in n_levels]
    if float(np.prod([float(r) for r in radix])) < 2**62:
        code = np.zeros(len(gamma), dtype=np.int64)
        for col, r in zip(gamma.columns, radix, strict=True):
            code = code * r + (gamma[col].to_numpy().astype(np.int64) + 1)
        inverse, uniq = pd.factorize(code, sort=True)
        G = np.zeros((len(uniq), len(radix)), dtype=np.int64)
        rest = np.asarray(uniq, dtype=np.int64)
        for k in range(len(radix) - 1, -1, -1):
            G[:, k] = rest % radix[k] - 1
            rest = rest // radix[k]
        return Patterns(G, inverse.astype(np.int64))
    G, inverse = np.unique(gamma.to_numpy().astype(np.int64), axis=0, return_inverse=True)
    return Patterns(G, inverse.ravel().astype(np.int64))


# --------------------------------------------------------------------------------------------------
# EM and the prior
# --------------------------------------------------------------------------------------------------
def _log_lik(G: np.ndarray, probs: Sequence[np.ndarray]) -> np.ndarray:
    out = np.zeros(len(G))
    for k, p in enumerate(probs):
        ext = np.r_[np.log(p), 0.0]  # index -1 (null) -> 0
        out += ext[G[:, k]]
    return out


def run_em(
    G: np.ndarray, counts: np.ndarray, m: list[np.ndarray], u: list[np.ndarray], lam: float,
    fix_m: Sequence[bool], fix_u: bool, fix_lambda: bool, max_iter: int, tol: float,
) -> tuple[list[np.ndarray], list[np.ndarray], float, int]:
    """EM over distinct patterns ``G`` weighted by ``counts``. Returns (m, u, lambda, iterations)."""
    m = [x.copy() for x in m]
    u = [x.copy() for x in u]
    it = 0
    total = counts.sum()
    for it in range(1, max_iter + 1):  # noqa: B007 (it is returned)
        lm, lu = _log_lik(G, m), _log_lik(G, u)
        logit = np.log(lam) - np.log1p(-lam) + lm - lu
        post = 1.0 / (1.0 + np.exp(-np.clip(logit, -700, 700)))
        wm = counts * post
        wu = counts * (1 - post)
        new_lam = lam if fix_lambda else float(np.clip(wm.sum() / total, 1e-12, 1 - 1e-12))
        delta = abs(new_lam - lam)
        new_m, new_u = [], []
        for k in range(G.shape[1]):
            L = len(m[k])
            if fix_m[k]:
                new_m.append(m[k])
            else:
                new_m.append(normalise(level_counts(G[:, k], L, wm)))
            new_u.append(u[k] if fix_u else normalise(level_counts(G[:, k], L, wu)))
            delta = max(delta, float(np.abs(new_m[k] - m[k]).max()), float(np.abs(new_u[k] - u[k]).max()))
        m, u, lam = new_m, new_u, new_lam
        if delta < tol:
            break
    return m, u, lam, it


def log_likelihood(G: np.ndarray, counts: np.ndarray, m, u, lam: float) -> float:
    """Log-likelihood of the two-class mixture over the weighted patterns."""
    lm, lu = _log_lik(G, m) + np.log(lam), _log_lik(G, u) + np.log1p(-lam)
    return float((counts * np.logaddexp(lm, lu)).sum())


def run_em_multistart(
    G: np.ndarray, counts: np.ndarray, m: list[np.ndarray], u: list[np.ndarray], fix_m: Sequence[bool],
    fix_u: bool, max_iter: int, tol: float,
) -> tuple[list[np.ndarray], list[np.ndarray], float, int, float]:
    """EM from several starting lambdas; keeps the solution with the highest likelihood (EM can drift
    to a degenerate optimum where the match class swallows the non-matches when started badly)."""
    best = None
    for lam0 in START_LAMBDAS:
        m_, u_, lam, it = run_em(G, counts, m, u, lam0, fix_m, fix_u, False, max_iter, tol)
        ll = log_likelihood(G, counts, m_, u_, lam)
        if best is None or ll > best[4] + 1e-9:
            best = (m_, u_, lam, it, ll)
    return best


def estimate_prior(
    G: np.ndarray, counts: np.ndarray, m: Sequence[np.ndarray], u: Sequence[np.ndarray], n_all_pairs: int,
    max_iter: int = 500, tol: float = 1e-10,
) -> tuple[float, float]:
    """Prior lambda (random-pair scale) and expected match count, by EM on lambda alone over ALL record
    pairs with m and u fixed: pairs outside the candidates are taken as non-matches (posterior 0), so
    ``lambda = sum(posterior over candidates) / n_all_pairs``. Working on the same scale as ``u`` (random
    pairs) keeps candidates that only agree on a blocking key from being counted as likely matches."""
    llr = _log_lik(G, m) - _log_lik(G, u)
    n_all = max(int(n_all_pairs), 1)
    lam = min(0.5, max(float(counts.sum()) / n_all * 0.1, 1e-12))
    expected = lam * n_all
    for _ in range(max_iter):
        post = 1.0 / (1.0 + np.exp(-np.clip(np.log(lam) - np.log1p(-lam) + llr, -700, 700)))
        expected = float((counts * post).sum())
        new = float(np.clip(expected / n_all, 1e-12, 0.5))
        if abs(new - lam) <= tol * max(lam, 1e-12):
            lam = new
            break
        lam = new
    return lam, expected


def related(rule_cols: Sequence[str], comp_cols: Sequence[str]) -> bool:
    """A rule column relates to a comparison column when they are the same field or one is a derived
    column of the other (``surname`` / ``surname_sound``, ``dob`` / ``dob_year``...)."""
    return any(r == c or r.startswith(c + "_") or c.startswith(r + "_") for r in rule_cols for c in comp_cols)


def comparison_read_columns(spec: ComparisonSpec) -> list[str]:
    """Columns whose agreement a comparison measures (``other`` columns of swapped levels excluded)."""
    cols = [spec.column, *(spec.null_columns or [])] + [lv.column for lv in spec.levels if lv.column]
    return list(dict.fromkeys(cols))

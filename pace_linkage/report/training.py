"""The report's section on how the model was trained: where the prior came from, and every EM training
session's pairs, lambda and m per comparison level -- kept, or dropped and why (a session whose lambda ran to
the edge, or whose m fell below its u, does not train the model)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

from pace_linkage.report.page import DASH, Page, facts, fixed, short, table
from pace_linkage.report.section import Section

SOURCES = {"candidates": "candidate pairs it holds", "records": "its own pairs (all records)"}


def _prior(t: Mapping[str, Any], pg: Page) -> str:
    src = t.get("prior_source")
    if src == "rules":
        rules = ", ".join(str(r) for r in t.get("prior_rules") or [])
        return escape(f"deterministic rules ({rules}) at a stated recall of {t.get('prior_recall')}: ") + \
            pg.n(t.get("prior_rule_pairs")) + " pairs"
    if src == "fixed":
        return "fixed in the configuration"
    if src == "em":
        return "EM on lambda over all record pairs (m and u fixed)"
    return DASH


def _m_table(sessions: Sequence[Mapping[str, Any]], model: Mapping[str, Any]) -> str:
    """m per comparison level (rows) and session (columns); a dash where a session did not estimate it."""
    trained = [s for s in sessions if s.get("m")]
    if not trained:
        return ""
    headers = ["Comparison: level", *(str(s.get("rule")) + ("" if s.get("kept", True) else " (dropped)")
                                      for s in trained)]
    rows = []
    for comp in model.get("comparisons") or []:
        name = str(comp.get("name"))
        for i, level in enumerate(comp.get("levels") or []):
            cells = []
            for s in trained:
                m = (s.get("m") or {}).get(name)
                cells.append(short(m[i]) if isinstance(m, list) and i < len(m) else DASH)
            rows.append([escape(f"{name}: {level.get('label')}"), *cells])
    return table("m per comparison level, by training session", [escape(h) for h in headers], rows)


def training_sessions(m: Mapping[str, Any], pg: Page) -> str | None:
    """The prior's source and each training session: pairs, lambda, kept or why dropped, and its m."""
    t = m.get("training")
    if not isinstance(t, Mapping) or not t.get("sessions"):
        return None
    sessions = list(t["sessions"])
    kept = [s for s in sessions if s.get("kept") and not s.get("skipped")]
    dropped = [s for s in sessions if s.get("kept") is False]
    parts = [facts([("Prior from", _prior(t, pg)),
                    ("Sessions kept / dropped", f"{len(kept)} / {len(dropped)}")])]
    rows = []
    for s in sessions:
        state = "skipped (too few pairs, or reads every comparison)" if s.get("skipped") else \
            ("kept" if s.get("kept") else "dropped: " + str(s.get("reason")))
        rows.append([escape(str(s.get("rule"))), escape(SOURCES.get(s.get("source"), DASH)),
                     escape(", ".join(s.get("estimated") or [])) or DASH, escape(state), pg.n(s.get("pairs")),
                     fixed(s.get("lambda"), 6)])
    parts.append(table("Training sessions (EM with u fixed; m of each comparison is the mean over the kept "
                       "sessions that estimated it)", ["Session rule", "Pairs from", "Estimated", "Outcome", "Pairs",
                                                       "λ"], rows, numeric_from=4))
    parts.append(_m_table(sessions, m.get("model") or {}))
    return "".join(parts)


SECTIONS = (
    Section(135, "training", "Model: training sessions", ("training",), training_sessions),
)

__all__ = ["SECTIONS", "training_sessions"]

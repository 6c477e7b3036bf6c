"""The report's sections on what blocking probably lost, without truth (the blocking advisor), and, with truth,
whether the model's match probabilities are calibrated."""

from __future__ import annotations

from collections.abc import Mapping
from html import escape
from typing import Any

from pace_linkage.report.page import Page, facts, fixed, is_num, note, table
from pace_linkage.report.section import Section


def _rate(matches: Any, pairs: Any) -> str:
    """Matches found per 1,000 extra pairs."""
    return fixed(1000.0 * matches / pairs, 2) if is_num(matches) and is_num(pairs) and pairs else "-"


def advisor(m: Mapping[str, Any], pg: Page) -> str | None:
    """How many matches blocking probably never compared, and which looser key would find them at what cost."""
    est = m.get("estimated")
    if not isinstance(est, Mapping) or "looser_keys" not in est:
        return None
    w = pg.words
    items = [("Matches never compared (estimate)", pg.n(round(est["missed_by_blocking"]))),
             ("95% interval", f"{pg.n(round(est['missed_by_blocking_low']))} to "
                              f"{pg.n(round(est['missed_by_blocking_high']))}"),
             ("Never compared but joined through other records", pg.n(round(est["recovered_by_clustering"])))]
    if is_num(est.get("missed_on_no_key")):
        items[1:1] = [("of which agreeing on no key (extrapolated)", pg.n(round(est["missed_on_no_key"])))]
    rows = []
    for k in sorted(est["looser_keys"], key=lambda r: -(r.get("matches") or 0)):
        if "skipped" in k:
            rows.append([escape(k["name"]), escape(k["rule"]), pg.n(k["pairs"]), "-", "-", "-",
                         f"not sampled: {escape(k['skipped'])}"])
            continue
        rows.append([escape(k["name"]), escape(k["rule"]), pg.n(k["pairs"]), pg.n(round(k["new_pairs"])),
                     f"{pg.n(round(k['matches']))} &plusmn; {pg.n(round(1.96 * k['se']))}",
                     _rate(k["matches"], k["new_pairs"]), "every pair" if k.get("exact") else pg.n(k["sampled"])])
    parts = [facts(items)]
    if rows:
        parts.append(table("Looser blocking keys: what each would add",
                           ["Key", "Loosens rule", "Pairs", "New pairs", "Matches it would add", "per 1,000 pairs",
                            "Scored"], rows))
    parts.append(note(
        "Each looser key is a blocking rule with one column dropped, so it finds the matches that rule missed "
        "because one of its columns was wrong, missing or swapped. Its pairs that no rule proposed are drawn at "
        f"random (with the run's seed), scored with the model, and those the model rates more likely the same "
        f"{w.person} than not are scaled up to all its pairs; a key counts only what keys with fewer pairs did "
        "not find. The matches that agree on no key at all (errors in two columns of every rule) are "
        "extrapolated from the patterns of agreement of the matches seen, taking fields as independent, as the model does. The "
        "interval spans the model's summed probabilities, the sampling error and none to twice the "
        "extrapolated matches. To recover matches, add the key with the most matches per pair as a blocking "
        "rule."))
    return "".join(parts)


def calibration(m: Mapping[str, Any], pg: Page) -> str | None:
    """With truth: mean match probability against the share of true matches, per band of probability."""
    cal = m.get("calibration")
    if not cal:
        return None
    rows = [[f"{fixed(c['low'], 3)} to {fixed(c['high'], 3)}", pg.n(c["pairs"]), fixed(c["mean_probability"]),
             fixed(c["true_share"])] for c in cal]
    return table("Calibration of the candidate pairs' match probabilities",
                 ["Match probability", "Pairs", "Mean probability", "Share truly matching"], rows) + note(
        "A calibrated model's mean probability equals the share of true matches in each band; the label-free "
        "estimates are only as good as this.")


SECTIONS = (
    Section(46, "blocking-advisor", "What blocking probably missed (no truth)", (), advisor),
    Section(48, "calibration", "Calibration (against truth)", ("calibration",), calibration),
)

__all__ = ["SECTIONS", "advisor", "calibration"]

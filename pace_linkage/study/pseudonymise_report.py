"""The report's "Pseudonymisation" section (metrics ``pseudonymisation``, from
:func:`pace_linkage.study.pseudonymise.encoding_summary`): the key id, the encodings and their hardening."""

from __future__ import annotations

from collections.abc import Mapping
from html import escape
from typing import Any

from pace_linkage.report.page import DASH, Page, facts, note, table
from pace_linkage.report.section import Section


def bloom_fields_table(fields: Mapping[str, Any], pg: Page, caption: str) -> str:
    """Per Bloom-encoded field: bits per feature, filters and the share of bits set."""
    rows = [[escape(f), escape(str(v.get("bits_per_feature"))), pg.n(v.get("filters")),
             escape(f"{100 * float(v.get('bits_set_share', 0)):.1f}%")] for f, v in fields.items()]
    return table(caption, ["Field", "Bits per feature", "Filters", "Bits set"], rows) if rows else ""


def hardening_on(hardening: Mapping[str, Any]) -> str:
    """The hardening switched on, as text (``balancing, XOR-folding`` or ``none``)."""
    on = [name for name, key in (("balancing", "balance"), ("XOR-folding", "xor_fold")) if hardening.get(key)]
    return ", ".join(on) if on else "none"


def pseudonymisation(m: Mapping[str, Any], pg: Page) -> str | None:
    """What the centre linked on: keyed tokens and Bloom filters, their settings and the known attacks."""
    ps = m.get("pseudonymisation")
    if not isinstance(ps, Mapping):
        return None
    found = [("Key id (the key itself is never stored)", escape(str(ps.get("key_id") or DASH))),
             ("Tokens", escape(str(ps.get("token", "")))),
             ("Bloom filters", escape(f"{ps.get('bloom_length')} bits, {ps.get('hash')}")),
             ("Hardening on", escape(hardening_on(ps.get("hardening") or {}))),
             ("Kept in plain text", escape(", ".join(ps.get("keep_plain") or []) or "nothing"))]
    bits = bloom_fields_table(ps.get("bloom_fields") or {}, pg, "Bloom-encoded fields: bits set (target about 50%)")
    attacks = "".join(f"<li>{escape(a)}</li>" for a in ps.get("known_attacks") or [])
    return (facts(found) + bits + (f"<h3>Known attacks</h3><ul>{attacks}</ul>" if attacks else "")
            + note("The centre linked on keyed tokens and Bloom filters only. What an attacker without the key "
                   "re-identifies, and what pseudonymisation costs in quality, is measured by "
                   "`pace-linkage scenarios` (pseudonymised scenario)."))


PSEUDONYMISATION = Section(110, "pseudonymisation", "Pseudonymisation: encoding and hardening",
                           ("pseudonymisation",), pseudonymisation)

__all__ = ["PSEUDONYMISATION", "bloom_fields_table", "hardening_on", "pseudonymisation"]

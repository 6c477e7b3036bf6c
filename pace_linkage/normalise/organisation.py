"""Organisations: business names (kind ``org_name``) and Companies House numbers (kind ``company_number``).

Business name (:func:`org_name`), in order:

1. Accents folded, upper case. A missing-value marker (N/A, UNKNOWN, NONE ...) -> ``org_name_placeholder``.
2. A trading name is split off at ``t/a``, ``t.a.``, ``t/as``, ``trading as`` or ``trades as``
   (``Smith Holdings Ltd t/a Clyde Bakery``): the first non-empty part is the legal name, the next the
   trading name (``f_trading``). With nothing before the marker the trading name is the name.
3. ``&`` and ``+`` -> ``AND``; apostrophes and full stops dropped (``L.T.D.`` -> ``LTD``, ``O'Neill's`` ->
   ``ONEILLS``); any other punctuation -> space; spaces collapsed.
4. The legal form is taken off the end of the name, repeatedly, and kept apart in ``f_suffix`` in a
   canonical spelling: LIMITED/LTD/CYF/CYFYNGEDIG -> LTD, PUBLIC LIMITED COMPANY/PLC/P L C -> PLC,
   LIMITED LIABILITY PARTNERSHIP/LLP -> LLP, LIMITED PARTNERSHIP/LP -> LP, COMMUNITY INTEREST COMPANY/CIC/CCC
   -> CIC, SCOTTISH CHARITABLE INCORPORATED ORGANISATION/SCIO -> SCIO, CHARITABLE INCORPORATED
   ORGANISATION/CIO -> CIO, INCORPORATED/INC -> INC, UNLIMITED -> UNLTD. A trailing bracketed group after the
   form (``Clyde Foods Ltd (Paisley)``) stays part of the name. A name is never reduced to nothing: the last
   word stays even if it looks like a legal form.
5. The name keeps every other word, ``THE`` included: common words are not removed but weighted down by
   term frequency where names are compared (``tf: true`` on an exact level, the ``weighted_jaccard`` level).
   Nothing but punctuation left -> ``org_name_invalid``.

Derived columns: ``f`` (the name of rules 1-5), ``f_suffix`` (legal form or null), ``f_trading`` (trading
name, cleaned by rules 3-5, or null), ``f_core`` and ``f_first``. The *core* is a secondary key for blocking
and for a lower comparison level: the name without the generic words THE, AND, GROUP, HOLDINGS, HOLDING,
COMPANY, CO, SONS, and without a geographic qualifier (SCOTLAND, UK, GB, EUROPE, INTERNATIONAL) that is
bracketed or ends the name (``Stirling Paper Mills (Scotland)`` -> ``STIRLING PAPER MILLS``; ``Scotland
Foods`` keeps its first word). A core that would be empty is the name itself. ``f_first`` is the core's first
word.

Companies House number (:func:`company_number`), in order:

1. Whitespace and punctuation dropped, upper case; any non-ASCII character -> ``company_number_invalid``.
2. Eight digits (England and Wales companies): fewer digits are zero-padded on the left, because spreadsheets
   drop leading zeros (``1234567`` -> ``01234567``).
3. Two letters and up to six digits: the digits are zero-padded to six (``SC12345`` -> ``SC012345``). In the
   digit positions ``O`` is read as 0 and ``I``/``L`` as 1 (at most two such repairs). The prefix must be one
   Companies House uses (:data:`PREFIXES`: SC Scotland, NI Northern Ireland, OC/SO/NC limited liability
   partnerships, LP/SL/NL limited partnerships, FC/SF/NF overseas, IP/SP/NP/RS registered societies, CE/CS/NO
   charitable organisations, SE/SA European ...) else ``company_number_prefix``. The old Northern Ireland form
   ``R`` + seven digits is kept as it is.
4. All-zero digits (``SC000000``, ``00000000``) -> ``company_number_placeholder``; any other shape (more than
   eight characters, letters inside the digits) -> ``company_number_invalid``.

Derived columns: ``f`` (the 8-character number) and ``f_digits`` (its number without prefix and leading zeros,
``SC012345`` -> ``12345``): the same digits under another or a missing prefix is a keying slip worth a
comparison level of its own.
"""

from __future__ import annotations

import re
from typing import Any

import pandas as pd

from pace_linkage.normalise import reasons as R
from pace_linkage.normalise._common import (
    GENERIC_PLACEHOLDERS,
    as_text,
    compact_key,
    fold_accents,
    map_unique,
    reason_series,
    to_string_series,
)

# ------------------------------------------------------------------------------------------------ names
_TRADING = re.compile(r"(?:^|[\W_])(?:T\s*/\s*AS?|T\s*\.\s*A\s*\.?|TRAD(?:ING|ES)[\W_]+AS)(?=[\W_]|$)")
_DROP = re.compile(r"['’‘`´ʼ.]")
_SEPARATE = re.compile(r"[\W_]+")
_TRAILING_GROUP = re.compile(r"^(.*?)\s*\(([^()]*)\)\s*$")

# legal forms: word sequences (longest first when matching) -> canonical spelling
LEGAL_FORMS: dict[tuple[str, ...], str] = {
    ("SCOTTISH", "CHARITABLE", "INCORPORATED", "ORGANISATION"): "SCIO",
    ("CHARITABLE", "INCORPORATED", "ORGANISATION"): "CIO",
    ("LIMITED", "LIABILITY", "PARTNERSHIP"): "LLP",
    ("PUBLIC", "LIMITED", "COMPANY"): "PLC",
    ("COMMUNITY", "INTEREST", "COMPANY"): "CIC",
    ("LIMITED", "PARTNERSHIP"): "LP",
    ("P", "L", "C"): "PLC",
    ("L", "L", "P"): "LLP",
    ("C", "I", "C"): "CIC",
    ("LIMITED",): "LTD",
    ("LTD",): "LTD",
    ("CYF",): "LTD",
    ("CYFYNGEDIG",): "LTD",
    ("PLC",): "PLC",
    ("LLP",): "LLP",
    ("LP",): "LP",
    ("CIC",): "CIC",
    ("CCC",): "CIC",
    ("SCIO",): "SCIO",
    ("CIO",): "CIO",
    ("INCORPORATED",): "INC",
    ("INC",): "INC",
    ("UNLIMITED",): "UNLTD",
}
_FORMS_BY_LENGTH = sorted(LEGAL_FORMS.items(), key=lambda kv: -len(kv[0]))
GENERIC_WORDS = frozenset({"THE", "AND", "GROUP", "HOLDINGS", "HOLDING", "COMPANY", "CO", "SONS"})
GEO_QUALIFIERS = frozenset({"SCOTLAND", "UK", "GB", "EUROPE", "INTERNATIONAL"})


def _clean(text: str) -> str:
    """Rule 3: ``&``/``+`` -> AND, apostrophes and full stops dropped, other punctuation -> space."""
    text = text.replace("&", " AND ").replace("+", " AND ")
    return " ".join(_SEPARATE.sub(" ", _DROP.sub("", text)).split())


def _split_form(words: list[str]) -> tuple[list[str], str | None]:
    """Rule 4 on a word list: (name words, canonical legal form of the outermost form or None)."""
    form = None
    while True:
        for seq, canon in _FORMS_BY_LENGTH:
            k = len(seq)
            if len(words) > k and tuple(words[-k:]) == seq:
                words = words[:-k]
                form = form or canon
                break
        else:
            return words, form


def _legal_name(text: str) -> tuple[str, str | None]:
    """(cleaned name without its legal form, canonical form) of one upper-case part of a name."""
    group = ""
    m = _TRAILING_GROUP.match(text)
    if m and m.group(1).strip():
        head_words = _clean(m.group(1)).split()
        head, form = _split_form(head_words)
        if form is not None:  # "Name Ltd (Paisley)": the form is taken, the bracketed part stays
            group = _clean(m.group(2))
            return " ".join([*head, *group.split()]), form
    words, form = _split_form(_clean(text).split())
    return " ".join(words), form


def core_name(name: str) -> str:
    """The core of a cleaned name (module docstring): generic words and a trailing geographic qualifier
    dropped; the name itself if nothing would be left."""
    words = [w for w in name.split() if w not in GENERIC_WORDS]
    while words and words[-1] in GEO_QUALIFIERS:
        words = words[:-1]
    return " ".join(words) or name


def _org_rule(value: Any) -> tuple[str | None, str | None, str | None, str | None, str | None, str | None]:
    """(name, suffix, trading, core, first, reason) for one raw value."""
    raw = as_text(value)
    if raw is None:
        return None, None, None, None, None, None
    if compact_key(raw) in GENERIC_PLACEHOLDERS:
        return None, None, None, None, None, R.ORG_NAME_PLACEHOLDER
    upper = fold_accents(raw).upper()
    parts = [p for p in _TRADING.split(upper) if _clean(p)]  # the legal name, the trading name (, more)
    name, form = _legal_name(parts[0]) if parts else ("", None)
    trade = _legal_name(parts[1])[0] if len(parts) > 1 else ""
    if not name:
        return None, None, None, None, None, R.ORG_NAME_INVALID
    if compact_key(name) in GENERIC_PLACEHOLDERS:
        return None, None, None, None, None, R.ORG_NAME_PLACEHOLDER
    core = core_name(name)
    return name, form, (trade or None), core, core.split()[0], None


def org_name_columns(s: pd.Series) -> tuple[pd.Series, ...]:
    """(name, suffix, trading, core, first, reason) for a column of raw business names (``string`` dtype)."""
    outs, reason = map_unique(s, _org_rule, 5)
    return (*(to_string_series(o, s.index) for o in outs), reason_series(reason, s.index))


def org_name(value: Any) -> str | None:
    """The business name without legal form or trading name (``"The Clyde Bakery Ltd."`` -> ``"THE CLYDE
    BAKERY"``), or None (module rules)."""
    return _org_rule(value)[0]


def org_suffix(value: Any) -> str | None:
    """The canonical legal form of a business name (``"... Limited"`` -> ``"LTD"``), or None."""
    return _org_rule(value)[1]


def org_trading(value: Any) -> str | None:
    """The trading name after ``t/a`` / ``trading as``, cleaned, or None."""
    return _org_rule(value)[2]


def org_core(value: Any) -> str | None:
    """The core of the business name (generic words and a trailing geographic qualifier dropped), or None."""
    return _org_rule(value)[3]


# ------------------------------------------------------------------------------- Companies House numbers
_NON_ALNUM = re.compile(r"[\W_]+")
_DIGIT_FIX = {"O": "0", "I": "1", "L": "1"}
MAX_REPAIRS = 2
PREFIXES = frozenset(
    {
        "SC",
        "NI",
        "OC",
        "SO",
        "NC",
        "LP",
        "SL",
        "NL",
        "FC",
        "SF",
        "NF",
        "GE",
        "GS",
        "GN",
        "IP",
        "SP",
        "NP",
        "RS",
        "SR",
        "NR",
        "RC",
        "ZC",
        "SZ",
        "NZ",
        "CE",
        "CS",
        "NO",
        "PC",
        "SE",
        "SA",
        "SG",
        "NA",
        "AC",
        "IC",
        "SI",
        "NV",
        "ES",
        "NE",
        "OE",
        "FE",
    }
)
_OLD_NI = re.compile(r"R[0-9]{7}")


def _company_rule(value: Any) -> tuple[str | None, str | None, str | None]:
    """(number, digits, reason) for one raw value."""
    text = as_text(value)
    if text is None:
        return None, None, None
    compact = _NON_ALNUM.sub("", text).upper()
    if not compact or not compact.isascii():
        return None, None, R.COMPANY_NUMBER_INVALID
    if compact.isdigit():
        if len(compact) > 8:
            return None, None, R.COMPANY_NUMBER_INVALID
        number, digits = compact.zfill(8), compact
    elif _OLD_NI.fullmatch(compact):
        number, digits = compact, compact[1:]
    else:
        prefix, rest = compact[:2], compact[2:]
        if sum(ch in _DIGIT_FIX for ch in rest) <= MAX_REPAIRS:
            rest = "".join(_DIGIT_FIX.get(ch, ch) for ch in rest)
        if not (prefix.isalpha() and rest.isdigit() and 1 <= len(rest) <= 6):
            return None, None, R.COMPANY_NUMBER_INVALID
        if prefix not in PREFIXES:
            return None, None, R.COMPANY_NUMBER_PREFIX
        number, digits = prefix + rest.zfill(6), rest
    digits = digits.lstrip("0")
    if not digits:
        return None, None, R.COMPANY_NUMBER_PLACEHOLDER
    return number, digits, None


def company_number_columns(s: pd.Series) -> tuple[pd.Series, pd.Series, pd.Series]:
    """(number, digits, reason) for a column of raw Companies House numbers (``string`` dtype)."""
    (number, digits), reason = map_unique(s, _company_rule, 2)
    return (
        to_string_series(number, s.index),
        to_string_series(digits, s.index),
        reason_series(reason, s.index),
    )


def company_number(value: Any) -> str | None:
    """The 8-character Companies House number (``"sc 12345"`` -> ``"SC012345"``), or None (module rules)."""
    return _company_rule(value)[0]

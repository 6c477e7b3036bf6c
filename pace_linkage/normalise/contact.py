"""Sex, telephone numbers and e-mail addresses.

Sex (:func:`sex`) -> ``M``, ``F`` or ``X``. The value is upper-cased, accents folded, and everything
but letters and digits dropped, then looked up:

* ``M``: M, MALE, MAN, BOY, MR, 1 (ISO/IEC 5218 code 1)
* ``F``: F, FEMALE, WOMAN, GIRL, MRS, MS, MISS, W, 2 (ISO/IEC 5218 code 2)
* ``X``: X, OTHER, O, NONBINARY, NB, INDETERMINATE, INTERSEX, I, 3
* null with ``sex_not_stated``: U, UNKNOWN, NOTKNOWN, NK, NS, NOTSTATED, PREFERNOTTOSAY, PNTS,
  REFUSED, WITHHELD, NA, 0 and 9 (ISO/IEC 5218 "not known" / "not applicable")
* anything else -> null with ``sex_unknown_code``.

Phone (:func:`phone`) -> E.164. A trailing extension (``ext 12``, ``x12``) is dropped, then
``(0)`` after a country code, then every character but digits and a leading ``+``; letters make
the number invalid. UK numbers (``+44``, ``0044``, ``44`` + 10 digits, or a national ``0`` + 9-10
digits, or 10 digits whose leading 0 a spreadsheet dropped) become ``+44`` + the national
significant number (NSN), which must be 9-10 digits starting 1, 2, 3, 5, 7, 8 or 9. Other
international numbers written with ``+`` or ``00`` are kept as ``+`` + 8-15 digits (E.164).
An NSN whose digits after the first are all the same (``07000 000000``), or a missing-value
marker (N/A, UNKNOWN, NONE ...) -> ``phone_placeholder``;
anything else -> ``phone_invalid``.

E-mail (:func:`email`): trimmed, ``mailto:`` dropped, lower-cased; must be ASCII
``local@domain.tld`` (local part of letters, digits and ``!#$%&'*+/=?^_`{|}~.-`` with no leading,
trailing or doubled dot; domain labels of letters, digits and inner hyphens; a final label of 2+
letters) else ``email_invalid``. Missing-value markers (N/A, NONE ...) and dummy addresses (local part such as noemail, none, na, unknown,
noreply, test; domains example.com/.org/.net, test.com, none.com, noemail.com) ->
``email_placeholder``.

Columns of an e-mail field (:func:`email_columns`), so that two addresses are compared by their parts and a
malformed address is still compared, fuzzily, rather than lost:

* ``f``: the valid address (as above), else null with its reason (``email_invalid`` is counted like any other
  nulled value);
* ``f_user``: the user part (before the last ``@``) without a ``+tag`` sub-address (``jo.smith+news`` ->
  ``jo.smith``): one person's address at two providers, or with and without a tag, agrees here;
* ``f_domain``: the domain (after the last ``@``);
* ``f_text``: the address as written, lower-cased, ``mailto:`` and every blank dropped: kept for
  a valid *and* a malformed address (``jo.smith@gmail,com``, ``jo smith@gmail.com``, ``jo.smith@gmail``) so a
  fuzzy comparison (Jaro-Winkler, edits) still sees it; null only for an absent value or a placeholder.

A malformed address with exactly one ``@`` and text either side also has its user part and domain (as written);
one without an ``@`` has neither.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from pace_linkage.normalise import reasons as R
from pace_linkage.normalise._common import (
    GENERIC_PLACEHOLDERS,
    as_text,
    compact_key,
    fold_accents,
    map_unique,
    reason_series,
    single_column,
    to_string_series,
)
from pace_linkage.normalise._vector import alike_from, alnum_upper, arrow_text, fullmatch, groups, is_in

# ----------------------------------------------------------------------------------------------- sex
SEX_CODES: dict[str, str] = {
    **dict.fromkeys(["M", "MALE", "MAN", "BOY", "MR", "1"], "M"),
    **dict.fromkeys(["F", "FEMALE", "WOMAN", "GIRL", "MRS", "MS", "MISS", "W", "2"], "F"),
    **dict.fromkeys(["X", "OTHER", "O", "NONBINARY", "NB", "INDETERMINATE", "INTERSEX", "I", "3"], "X"),
}
SEX_NOT_STATED = frozenset(
    "U UNKNOWN UNK NOTKNOWN NK NS NOTSTATED PREFERNOTTOSAY PNTS REFUSED WITHHELD NA NOTAPPLICABLE "
    "NOTRECORDED 0 9".split()
)
_NON_ALNUM = re.compile(r"[^A-Z0-9]+")


def _sex_rule(value: Any) -> tuple[str | None, str | None]:
    text = as_text(value)
    if text is None:
        return None, None
    key = _NON_ALNUM.sub("", fold_accents(text).upper())
    if key in SEX_CODES:
        return SEX_CODES[key], None
    if key in SEX_NOT_STATED:
        return None, R.SEX_NOT_STATED
    return None, R.SEX_UNKNOWN_CODE


def sex_series(s: pd.Series) -> tuple[pd.Series, pd.Series]:
    """(M/F/X, reason codes) for a column of raw sex codes. See the module rules."""
    return single_column(s, _sex_rule)


def sex(value: Any) -> str | None:
    """``"M"``, ``"F"`` or ``"X"`` from a code such as ``Female``, ``m`` or ``2``; else None."""
    return _sex_rule(value)[0]


# --------------------------------------------------------------------------------------------- phone
_EXTENSION = re.compile(r"\s*(?:ext(?:ension)?\.?|x|#)\s*\d{1,6}\s*$", re.IGNORECASE)
_TRUNK_ZERO = re.compile(r"^(\+|00)\s*(\d{1,3})\s*\(0\)")
_PHONE_CHARS = re.compile(r"[\s\-().\/]+")
_UK_NSN = re.compile(r"[1235789]\d{8,9}", re.ASCII)


def _phone_rule(value: Any) -> tuple[str | None, str | None]:
    text = as_text(value)
    if text is None:
        return None, None
    if compact_key(text) in GENERIC_PLACEHOLDERS:
        return None, R.PHONE_PLACEHOLDER
    text = _TRUNK_ZERO.sub(r"+\2", _EXTENSION.sub("", text))
    digits = _PHONE_CHARS.sub("", text)
    if digits.startswith("+"):
        international, digits = True, digits[1:]
    elif digits.startswith("00"):
        international, digits = True, digits[2:]
    else:
        international = False
    if not digits.isascii() or not digits.isdigit():
        return None, R.PHONE_INVALID
    if international or (digits.startswith("44") and len(digits) in (12, 13)):
        if not digits.startswith("44"):
            ok = 8 <= len(digits) <= 15 and digits[0] != "0"
            return ("+" + digits, None) if ok else (None, R.PHONE_INVALID)
        nsn = digits[2:]
        nsn = nsn[1:] if nsn.startswith("0") else nsn
    elif digits.startswith("0"):
        nsn = digits[1:]
    else:
        nsn = digits if len(digits) == 10 else ""  # a leading 0 lost in a spreadsheet
    if not _UK_NSN.fullmatch(nsn):
        return None, R.PHONE_INVALID
    if len(set(nsn[1:])) == 1:
        return None, R.PHONE_PLACEHOLDER
    return "+44" + nsn, None


# The common shapes, read all at once: ASCII digits in groups split by single spaces, a UK number
# written +44 or 0 then a well-formed national significant number (no trunk 0 after +44).
_PHONE_SHAPE = r"\+?[0-9]+(?: [0-9]+)*"
_PHONE_UK = r"(?:\+44|0)(?P<nsn>[1235789][0-9]{8,9})"


def phone_fast(texts: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]] | None:
    """The :func:`phone` results of the distinct text values in the common UK shapes (``_vector``)."""
    arr = arrow_text(texts)
    if arr is None:
        return None
    nsn = groups(pc.replace_substring(arr, " ", ""), _PHONE_UK)["nsn"]
    handled = fullmatch(arr, _PHONE_SHAPE) & (nsn != None)  # noqa: E711 (element-wise)
    number = np.full(len(texts), None, dtype=object)
    reason = np.full(len(texts), None, dtype=object)
    if handled.any():
        ok = nsn[handled]
        dummy = alike_from(ok, 10, 1)
        number[np.flatnonzero(handled)[~dummy]] = "+44" + ok[~dummy]
        reason[np.flatnonzero(handled)[dummy]] = R.PHONE_PLACEHOLDER
    return handled, [number, reason]


def phone_series(s: pd.Series) -> tuple[pd.Series, pd.Series]:
    """(E.164 numbers, reason codes) for a column of raw phone numbers. See the module rules."""
    return single_column(s, _phone_rule, phone_fast)


def phone(value: Any) -> str | None:
    """E.164 number (``"0131 496 0000"`` -> ``"+441314960000"``), or None."""
    return _phone_rule(value)[0]


# --------------------------------------------------------------------------------------------- email
_EMAIL = re.compile(
    r"(?P<local>[a-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*)"
    r"@(?P<domain>(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)+[a-z]{2,})",
    re.ASCII,
)
DUMMY_LOCAL = frozenset(
    "noemail no.email no-email no_email nomail none na n.a n/a unknown notknown noreply no-reply "
    "test dummy nothing null email abc xxx x".split()
)
DUMMY_DOMAINS = frozenset("example.com example.org example.net test.com none.com noemail.com nomail.com".split())


def _email_rule(value: Any) -> tuple[str | None, str | None]:
    text = as_text(value)
    if text is None:
        return None, None
    if compact_key(text) in GENERIC_PLACEHOLDERS:
        return None, R.EMAIL_PLACEHOLDER
    text = text.lower()
    if text.startswith("mailto:"):
        text = text[7:].strip()
    m = _EMAIL.fullmatch(text)
    if not m:
        return None, R.EMAIL_INVALID
    if m["local"] in DUMMY_LOCAL or m["domain"] in DUMMY_DOMAINS:
        return None, R.EMAIL_PLACEHOLDER
    return text, None


_BLANKS = re.compile(r"\s+")


def _email_parts_rule(value: Any) -> tuple[str | None, str | None, str | None, str | None, str | None]:
    """(address, user part, domain, text as written, reason) for one raw value (module rules)."""
    address, reason = _email_rule(value)
    if reason == R.EMAIL_PLACEHOLDER or (address is None and reason is None):
        return None, None, None, None, reason
    written = _BLANKS.sub("", as_text(value) or "").lower()
    if written.startswith("mailto:"):
        written = written[7:]
    if not written:
        return None, None, None, None, reason
    user, at, domain = written.rpartition("@")
    if address is None and (written.count("@") != 1 or not user or not domain):
        return None, None, None, written, reason
    if address is not None:
        user, _, domain = address.rpartition("@")
    user = user.split("+", 1)[0] or user
    return address, user, domain, written, reason


_PRINTABLE = r"[!-~]+"  # ASCII without blanks or control characters


def email_fast(texts: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]] | None:
    """The :func:`email_columns` results of the distinct text values that are valid addresses as written
    (printable ASCII, no ``mailto:``, not a placeholder or dummy address; ``_vector``)."""
    arr = arrow_text(texts)
    if arr is None:
        return None
    lower = pc.ascii_lower(arr)
    parts = groups(lower, _EMAIL.pattern)
    local, domain = parts["local"], parts["domain"]
    compact = np.asarray(alnum_upper(arr), dtype=object)
    handled = (fullmatch(arr, _PRINTABLE) & (local != None)  # noqa: E711 (element-wise)
               & ~np.asarray(pc.starts_with(lower, "mailto:"), dtype=bool)
               & ~is_in(compact, GENERIC_PLACEHOLDERS) & ~is_in(local, DUMMY_LOCAL) & ~is_in(domain, DUMMY_DOMAINS))
    cols = [np.full(len(texts), None, dtype=object) for _ in range(5)]
    address = np.asarray(lower, dtype=object)[handled]
    untagged = np.asarray(pc.replace_substring_regex(pa.array(local[handled], type=pa.string()), r"\+.*", ""),
                          dtype=object)
    cols[0][handled] = address
    cols[1][handled] = np.where(untagged == "", local[handled], untagged)
    cols[2][handled] = domain[handled]
    cols[3][handled] = address
    return handled, cols


def email_columns(s: pd.Series) -> tuple[pd.Series, pd.Series, pd.Series, pd.Series, pd.Series]:
    """(address, user part, domain, text as written, reason) for a column of raw e-mail addresses (``string``
    dtype; see the module rules): a malformed address is null in the first column, with its reason, and kept
    in the last."""
    outs, reason = map_unique(s, _email_parts_rule, 4, email_fast)
    return (*(to_string_series(o, s.index) for o in outs), reason_series(reason, s.index))


def email_series(s: pd.Series) -> tuple[pd.Series, pd.Series]:
    """(lower-case addresses, reason codes) for a column of raw e-mail addresses. See the module rules."""
    return single_column(s, _email_rule)


def email(value: Any) -> str | None:
    """Lower-cased, trimmed, validated e-mail address, or None."""
    return _email_rule(value)[0]

"""The error model: what happens to a person's details on their way into a partner's system.

Each error is a function over whole columns: it finds the *eligible* records (where the error is
possible and would change the value), draws a boolean mask with the configured rate, and rewrites
only the masked subset. Character-level edits work on a ``(rows, width)`` matrix of code points, so
no Python code runs per record. Every function returns the mask it applied, so the generator can
report (and the tests can check) observed rates.

Value errors (``apply_value_errors``, in this order):

* ``nickname``   forename -> the person's everyday name (Rab for Robert), where one exists
* ``marriage``   surname -> the woman's other (maiden/married) surname, women aged 20+
* ``name_swap``  forename and surname exchanged
* ``mc_mac``     McDonald <-> MacDonald / Macdonald
* ``typo``       one keyboard slip in forename or surname: adjacent-key substitution, insertion of
                 an adjacent key, deletion, or transposition of neighbouring letters
* ``ocr``        one OCR confusion in forename or surname (e<->c, l<->i, rn-like n<->h ...)
* ``dob_swap``   day and month transposed (day <= 12, day != month)
* ``dob_digit``  a mistyped digit: year +-1 or +-10, or day +-1
* ``dob_placeholder`` 1900-01-01 typed when the date was unknown
* ``nino_digit`` one of the six digits mistyped
* ``nino_wrong_column`` the NI number typed into another box (phone, else middle name)
* ``moved``      the person's previous postcode
* ``postcode_typo`` O<->0, I<->1, S<->5, B<->8, Z<->2, G<->6 confusion
* ``stale``      the person's old phone number (and an old "updated" date)
* ``employer_variant`` employer name without its legal suffix, Ltd<->Limited, or in capitals
* missing values per field (blank)

Presentation errors (``apply_presentation_errors``, after the partner's own case style):
``spaces_case`` stray leading/trailing/double spaces or case noise in a name or postcode. Excel serial
dates are rendered by :mod:`synthetic.partners` (mask drawn here by :func:`excel_serial_mask`).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from synthetic.settings import ErrorRates, MissingRates

PLACEHOLDER_DOB = np.datetime64("1900-01-01", "D")

# UK QWERTY neighbours (letters and digits), used for keyboard slips.
_ROWS = ["1234567890", "qwertyuiop", "asdfghjkl", "zxcvbnm"]
_NEIGHBOURS: dict[str, str] = {}
for _r, _row in enumerate(_ROWS):
    for _c, _ch in enumerate(_row):
        near = []
        for dr in (-1, 0, 1):
            rr = _r + dr
            if 0 <= rr < len(_ROWS):
                for dc in (-1, 1) if dr == 0 else (0, 1) if dr == -1 else (-1, 0):
                    cc = _c + dc
                    if 0 <= cc < len(_ROWS[rr]) and _ROWS[rr][cc].isalpha() == _ch.isalpha():
                        near.append(_ROWS[rr][cc])
        _NEIGHBOURS[_ch] = "".join(near)

TABLE_SIZE = 0x180  # Latin-1 and Latin Extended-A; other code points are left alone
_NB = np.zeros((TABLE_SIZE, 6), dtype=np.uint32)
_NB_COUNT = np.zeros(TABLE_SIZE, dtype=np.int64)
for _ch, _near in _NEIGHBOURS.items():
    for _case in {_ch, _ch.upper()}:
        cs = _near.upper() if _case.isupper() else _near
        _NB[ord(_case), : len(cs)] = [ord(x) for x in cs]
        _NB_COUNT[ord(_case)] = len(cs)


def _confusion_table(pairs: str) -> np.ndarray:
    table = np.zeros(TABLE_SIZE, dtype=np.uint32)
    for pair in pairs.split():
        a, b = pair
        table[ord(a)], table[ord(b)] = ord(b), ord(a)
    return table


NAME_OCR = _confusion_table("ec li nh uv ao EC IL HN UV OQ")
POSTCODE_OCR = _confusion_table("O0 I1 S5 B8 Z2 G6")


# --------------------------------------------------------------------------------------------------
# Character matrix helpers
# --------------------------------------------------------------------------------------------------
def to_chars(values: np.ndarray, extra: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Strings -> (rows x width) uint32 code-point matrix (zero padded, ``extra`` spare columns) and
    lengths."""
    u = np.asarray(values, dtype=str)
    width = u.dtype.itemsize // 4
    m = np.zeros((len(u), max(width, 1) + extra), dtype=np.uint32)
    if len(u) and width:
        m[:, :width] = np.ascontiguousarray(u).view(np.uint32).reshape(len(u), width)
    return m, (m != 0).sum(axis=1)


def from_chars(m: np.ndarray) -> np.ndarray:
    """Inverse of :func:`to_chars` (trailing zeros dropped)."""
    m = np.ascontiguousarray(m, dtype=np.uint32)
    return m.view(f"U{m.shape[1]}").ravel().astype(object)


def _rows(n: int) -> np.ndarray:
    return np.arange(n)


def keyboard_typo(values: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One keyboard slip per value (values must have >= 2 characters). The edit is a substitution by
    an adjacent key (40%), an adjacent key inserted before a letter (15%), a deletion (20%) or two
    neighbouring letters transposed (25%); a letter with no neighbour on the keyboard (accented) or
    two equal neighbours fall back to deletion, so every value changes."""
    n = len(values)
    if n == 0:
        return values
    m, length = to_chars(values, extra=1)
    rows, width = _rows(n), m.shape[1]
    kind = rng.choice(4, n, p=[0.4, 0.15, 0.2, 0.25])  # 0 sub, 1 insert, 2 delete, 3 transpose
    pos = (rng.random(n) * length).astype(np.int64)
    pos_t = (rng.random(n) * np.maximum(length - 1, 1)).astype(np.int64)
    ch = m[rows, pos]
    code = np.minimum(ch, TABLE_SIZE - 1)
    nb_n = np.where(ch < TABLE_SIZE, _NB_COUNT[code], 0)
    nb = _NB[code, (rng.random(n) * np.maximum(nb_n, 1)).astype(np.int64)]
    same_pair = m[rows, pos_t] == m[rows, np.minimum(pos_t + 1, width - 1)]
    kind = np.where(((kind == 0) | (kind == 1)) & (nb_n == 0), 2, kind)
    kind = np.where((kind == 3) & same_pair, 2, kind)

    j = np.arange(width)[None, :]
    out = m.copy()
    sub = kind == 0
    out[rows[sub], pos[sub]] = nb[sub]
    ins = kind == 1
    if ins.any():
        src = j - (j > pos[ins, None])
        shifted = np.take_along_axis(m[ins], np.maximum(src, 0), axis=1)
        shifted[_rows(ins.sum()), pos[ins]] = nb[ins]
        out[ins] = shifted
    dele = kind == 2
    if dele.any():
        src = np.minimum(j + (j >= pos[dele, None]), width - 1)
        shifted = np.take_along_axis(m[dele], src, axis=1)
        shifted[:, -1] = 0
        out[dele] = shifted
    tr = kind == 3
    if tr.any():
        r, p = rows[tr], pos_t[tr]
        a, b = m[r, p].copy(), m[r, p + 1].copy()
        out[r, p], out[r, p + 1] = b, a
    return from_chars(out)


def confusion_eligible(values: np.ndarray, table: np.ndarray) -> np.ndarray:
    """True where a value holds at least one character the confusion table maps."""
    out = np.zeros(len(values), dtype=bool)
    present = pd.notna(values)
    if present.any():
        m, _ = to_chars(values[present].astype(str), extra=0)
        out[present] = (table[np.minimum(m, TABLE_SIZE - 1)] != 0).any(axis=1) & (m < TABLE_SIZE).any(axis=1)
    return out


def confuse(values: np.ndarray, table: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Replace one mappable character (chosen at random) by its confusion partner."""
    if len(values) == 0:
        return values
    m, _ = to_chars(values, extra=0)
    mapped = np.where(m < TABLE_SIZE, table[np.minimum(m, TABLE_SIZE - 1)], 0)
    score = np.where(mapped != 0, rng.random(m.shape) + 1.0, 0.0)
    pos = score.argmax(axis=1)
    rows = _rows(len(m))
    m[rows, pos] = mapped[rows, pos]
    return from_chars(m)


# --------------------------------------------------------------------------------------------------
# Value errors
# --------------------------------------------------------------------------------------------------
def _mask(eligible: np.ndarray, rate: float, rng: np.random.Generator) -> np.ndarray:
    draw = rng.random(len(eligible))  # always drawn, so one rate never shifts another error's draws
    return eligible & (draw < rate)


def _notna(col: pd.Series) -> np.ndarray:
    """Present: not null and, for text, not empty."""
    if col.dtype.kind in "Mmifb":
        return col.notna().to_numpy()
    v = col.to_numpy(dtype=object)
    return pd.notna(v) & (v != "")


_MAC_RE = r"^(?:Mc[A-Z]|Mac[A-Z]|Mac(?:donald|kenzie|kay|leod|millan|kintosh|intosh|gregor|intyre|farlane|pherson|allister|lean)$)"


def mc_mac_variant(values: pd.Series, rng: np.random.Generator) -> np.ndarray:
    """McX -> MacX or Macx; MacX/Macx -> McX (capitalised)."""
    s = values.astype(str)
    is_mc = s.str.startswith("Mc").to_numpy()
    rest_mc = s.str.slice(2)
    rest_mac = s.str.slice(3)
    lower = rng.random(len(s)) < 0.4
    to_mac = np.where(lower, "Mac" + rest_mc.str.lower(), "Mac" + rest_mc)
    to_mc = "Mc" + rest_mac.str.slice(0, 1).str.upper() + rest_mac.str.slice(1)
    return np.where(is_mc, to_mac, to_mc.to_numpy(dtype=object)).astype(object)


_SUFFIX_RE = r"\s+(?:Ltd|Limited|plc|LLP|Group Ltd|\(Scotland\) Ltd|& Sons Ltd)$"


def employer_variant(values: pd.Series, rng: np.random.Generator) -> np.ndarray:
    """How an adviser writes the employer: no legal suffix (50%), Ltd<->Limited (20%), capitals (30%).
    Falls back to capitals where the chosen variant would not change the name."""
    s = values.astype(str)
    no_suffix = s.str.replace(_SUFFIX_RE, "", regex=True)
    swapped = s.str.replace(r"Ltd$", "Limited", regex=True).where(
        s.str.endswith("Ltd"), s.str.replace(r"Limited$", "Ltd", regex=True)
    )
    upper = s.str.upper()
    pick = rng.choice(3, len(s), p=[0.5, 0.2, 0.3])
    out = np.select([pick == 0, pick == 1], [no_suffix, swapped], upper).astype(object)
    return np.where(out == s.to_numpy(dtype=object), upper.to_numpy(dtype=object), out)


def shift_dob_digit(dob: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Year +-1 (40%), year +-10 (20%) or day +-1 (40%); 29 February moves to the 28th if needed."""
    d = pd.DatetimeIndex(dob)
    n = len(d)
    kind = rng.choice(3, n, p=[0.4, 0.2, 0.4])
    sign = np.where(rng.random(n) < 0.5, -1, 1)
    years = np.where(kind == 0, sign, np.where(kind == 1, 10 * sign, 0))
    day = np.where((d.month == 2) & (d.day == 29) & (years != 0), 28, d.day)
    moved = pd.to_datetime({"year": d.year + years, "month": d.month, "day": day}).to_numpy()
    moved = moved.astype("datetime64[D]") + np.where(kind == 2, sign, 0).astype("timedelta64[D]")
    return moved


def swap_day_month(dob: np.ndarray) -> np.ndarray:
    d = pd.DatetimeIndex(dob)
    return pd.to_datetime({"year": d.year, "month": d.day, "day": d.month}).to_numpy().astype("datetime64[D]")


def nino_digit(values: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Change one of the six digits (positions 3-8) of a 9-character NI number."""
    m, _ = to_chars(values, extra=0)
    rows = _rows(len(m))
    pos = 2 + rng.integers(0, 6, len(m))
    digit = m[rows, pos].astype(np.int64) - ord("0")
    m[rows, pos] = ((digit + rng.integers(1, 10, len(m))) % 10 + ord("0")).astype(np.uint32)
    return from_chars(m)


VALID_NINO = r"^[A-Z]{2}\d{6}[A-D]$"


# has(field): the records whose ``field`` the partner holds and is not blank (all False if it holds none)
_Held = Callable[[str], np.ndarray]


def apply_value_errors(
    rec: pd.DataFrame,
    rates: ErrorRates,
    missing: MissingRates,
    rng: np.random.Generator,
    ref_date: np.datetime64,
    holds: set[str],
    nino_target: str | None = None,
) -> dict[str, np.ndarray]:
    """Corrupt ``rec`` in place; return the applied mask per error type (and ``missing_<field>``).

    ``rec`` has the clean canonical columns plus the person's ``nickname``, ``former_surname``,
    ``previous_postcode``, ``old_phone`` and ``sex``; ``holds`` is the set of fields this partner
    records (errors are only drawn for those); ``nino_target`` is the column a misplaced NI number
    lands in. The errors are applied in the order of the module docstring, each to the values as the
    errors before it left them.
    """
    none = np.zeros(len(rec), dtype=bool)

    def has(field: str) -> np.ndarray:
        return _notna(rec[field]) if field in holds else none

    applied: dict[str, np.ndarray] = {}
    applied |= _name_errors(rec, rates, has, ref_date, rng)
    applied |= _name_slips(rec, rates, has, rng)
    applied |= _dob_errors(rec, rates, has, rng)
    applied |= _nino_errors(rec, rates, has, nino_target, rng)
    applied |= _contact_errors(rec, rates, has, rng)
    applied |= _blanks(rec, missing, has, rng)
    return applied


def _name_errors(
    rec: pd.DataFrame, rates: ErrorRates, has: _Held, ref_date: np.datetime64, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """``nickname`` (where the person has an everyday name other than the forename), ``marriage`` (women
    aged 20+ with another surname), ``name_swap`` (forename and surname differ), ``mc_mac`` (Mc/Mac
    surnames)."""
    applied: dict[str, np.ndarray] = {}
    m = _mask(
        has("first_name") & _notna(rec["nickname"]) & (rec["nickname"] != rec["first_name"]).to_numpy(),
        rates.nickname,
        rng,
    )
    rec.loc[m, "first_name"] = rec.loc[m, "nickname"]
    applied["nickname"] = m

    age = (ref_date - rec["dob"].to_numpy().astype("datetime64[D]")).astype(np.int64) / 365.25
    m = _mask(
        has("surname") & _notna(rec["former_surname"]) & (rec["sex"] == "F").to_numpy() & (age >= 20),
        rates.marriage,
        rng,
    )
    rec.loc[m, "surname"] = rec.loc[m, "former_surname"]
    applied["marriage"] = m

    m = _mask(
        has("first_name") & has("surname") & (rec["first_name"] != rec["surname"]).to_numpy(),
        rates.name_swap,
        rng,
    )
    rec.loc[m, ["first_name", "surname"]] = rec.loc[m, ["surname", "first_name"]].to_numpy()
    applied["name_swap"] = m

    m = _mask(has("surname") & rec["surname"].astype(str).str.match(_MAC_RE).to_numpy(), rates.mc_mac, rng)
    rec.loc[m, "surname"] = mc_mac_variant(rec.loc[m, "surname"], rng)
    applied["mc_mac"] = m
    return applied


def _name_slips(rec: pd.DataFrame, rates: ErrorRates, has: _Held, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """``typo`` then ``ocr``: each in the forename (40%) or else the surname, where that name is held; a
    keyboard slip needs at least two characters, an OCR confusion a character it can confuse."""
    n = len(rec)
    applied: dict[str, np.ndarray] = {}
    for name, fn in (("typo", "keyboard"), ("ocr", "ocr")):
        field_first = rng.random(n) < 0.4
        col_ok = np.where(field_first, has("first_name"), has("surname"))
        if fn == "keyboard":
            vals = np.where(field_first, rec["first_name"].astype(str), rec["surname"].astype(str))
            col_ok &= pd.Series(vals).str.len().to_numpy() >= 2
        else:
            vals = np.where(field_first, rec["first_name"].astype(object), rec["surname"].astype(object))
            col_ok &= confusion_eligible(vals, NAME_OCR)
        m = _mask(col_ok, getattr(rates, name), rng)
        for field, sel in (("first_name", m & field_first), ("surname", m & ~field_first)):
            if sel.any():
                v = rec.loc[sel, field].to_numpy(dtype=object)
                rec.loc[sel, field] = keyboard_typo(v, rng) if fn == "keyboard" else confuse(v, NAME_OCR, rng)
        applied[name] = m
    return applied


def _dob_errors(rec: pd.DataFrame, rates: ErrorRates, has: _Held, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """``dob_swap`` (day <= 12 and not equal to the month), ``dob_digit``, ``dob_placeholder``; none of them
    to a date that is already the placeholder."""
    applied: dict[str, np.ndarray] = {}
    dob = rec["dob"].to_numpy().astype("datetime64[D]")
    d = pd.DatetimeIndex(dob)
    m = _mask(has("dob") & (d.day <= 12) & (d.day != d.month) & (dob != PLACEHOLDER_DOB), rates.dob_swap, rng)
    dob[m] = swap_day_month(dob[m])
    applied["dob_swap"] = m
    m = _mask(has("dob") & (dob != PLACEHOLDER_DOB), rates.dob_digit, rng)
    dob[m] = shift_dob_digit(dob[m], rng)
    applied["dob_digit"] = m
    m = _mask(has("dob") & (dob != PLACEHOLDER_DOB), rates.dob_placeholder, rng)
    dob[m] = PLACEHOLDER_DOB
    applied["dob_placeholder"] = m
    rec["dob"] = dob.astype("datetime64[s]")
    return applied


def _nino_errors(
    rec: pd.DataFrame, rates: ErrorRates, has: _Held, nino_target: str | None, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """``nino_digit`` (valid-format NI numbers only), then ``nino_wrong_column``: the number moved into
    ``nino_target``, leaving the NI number blank (never, if the partner has no such column)."""
    applied: dict[str, np.ndarray] = {}
    valid = has("nino") & rec["nino"].astype(str).str.match(VALID_NINO).to_numpy()
    m = _mask(valid, rates.nino_digit, rng)
    rec.loc[m, "nino"] = nino_digit(rec.loc[m, "nino"].to_numpy(dtype=object), rng)
    applied["nino_digit"] = m
    m = _mask(has("nino") & (nino_target is not None), rates.nino_wrong_column, rng)
    if nino_target is not None and m.any():
        rec.loc[m, nino_target] = rec.loc[m, "nino"]
        rec.loc[m, "nino"] = None
    applied["nino_wrong_column"] = m
    return applied


def _contact_errors(
    rec: pd.DataFrame, rates: ErrorRates, has: _Held, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """``moved`` (where the previous postcode differs), ``postcode_typo``, ``stale`` (where the old phone
    differs), ``employer_variant``."""
    applied: dict[str, np.ndarray] = {}
    m = _mask(has("postcode") & (rec["previous_postcode"] != rec["postcode"]).to_numpy(), rates.moved, rng)
    rec.loc[m, "postcode"] = rec.loc[m, "previous_postcode"]
    applied["moved"] = m
    pcs = rec["postcode"].to_numpy(dtype=object)
    m = _mask(has("postcode") & confusion_eligible(pcs, POSTCODE_OCR), rates.postcode_typo, rng)
    rec.loc[m, "postcode"] = confuse(pcs[m], POSTCODE_OCR, rng)
    applied["postcode_typo"] = m
    m = _mask(has("phone") & (rec["old_phone"] != rec["phone"]).to_numpy(), rates.stale, rng)
    rec.loc[m, "phone"] = rec.loc[m, "old_phone"]
    applied["stale"] = m
    m = _mask(has("employer"), rates.employer_variant, rng)
    rec.loc[m, "employer"] = employer_variant(rec.loc[m, "employer"], rng)
    applied["employer_variant"] = m
    return applied


def _blanks(rec: pd.DataFrame, missing: MissingRates, has: _Held, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """``missing_<field>``: a held value blanked with the field's missing rate (a date of birth becomes NaT,
    anything else None), field by field in the order of :class:`MissingRates`."""
    applied: dict[str, np.ndarray] = {}
    for field, rate in missing.model_dump().items():
        m = _mask(has(field), rate, rng)
        if field == "dob":
            rec.loc[m, "dob"] = pd.NaT
        else:
            rec.loc[m, field] = None
        applied[f"missing_{field}"] = m
    return applied


# --------------------------------------------------------------------------------------------------
# Presentation errors
# --------------------------------------------------------------------------------------------------
def spaces_case(values: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Leading or trailing space (25% each), a doubled or dropped inner space (20%), or case noise
    (30%: upper case, or lower case when already upper). Every value changes."""
    s = pd.Series(values, dtype=object).astype(str)
    kind = rng.choice(4, len(s), p=[0.25, 0.25, 0.2, 0.3])
    has_space = s.str.contains(" ", regex=False)
    inner = s.str.replace(" ", "", n=1, regex=False).where(
        has_space, s.str.slice(0, 1) + " " + s.str.slice(1)
    )
    inner = inner.where(~(has_space & (rng.random(len(s)) < 0.5)), s.str.replace(" ", "  ", n=1, regex=False))
    upper = s.str.upper()
    case = upper.where(upper != s, s.str.lower())
    out = np.select([kind == 0, kind == 1, kind == 2], [" " + s, s + " ", inner], case).astype(object)
    return np.where(out == s.to_numpy(dtype=object), " " + s.to_numpy(dtype=object), out)


def apply_presentation_errors(
    frame: pd.DataFrame, columns: list[str], rate: float, rng: np.random.Generator
) -> np.ndarray:
    """Stray spaces / case noise in one of ``columns`` (chosen per record); returns the mask."""
    n = len(frame)
    if not columns:
        _mask(np.zeros(n, bool), rate, rng)
        return np.zeros(n, dtype=bool)
    which = rng.integers(0, len(columns), n)
    eligible = np.zeros(n, dtype=bool)
    for k, col in enumerate(columns):
        eligible |= (which == k) & _notna(frame[col])
    m = _mask(eligible, rate, rng)
    for k, col in enumerate(columns):
        sel = m & (which == k)
        if sel.any():
            frame.loc[sel, col] = spaces_case(frame.loc[sel, col].to_numpy(dtype=object), rng)
    return m


def excel_serial_mask(dob: pd.Series, rate: float, rng: np.random.Generator) -> np.ndarray:
    return _mask(dob.notna().to_numpy(), rate, rng)


def excel_serial(dates: np.ndarray) -> np.ndarray:
    """Excel's 1900 date system serial number (days since 1899-12-30)."""
    return (dates.astype("datetime64[D]") - np.datetime64("1899-12-30", "D")).astype(np.int64)

"""Blocking stress data: two records of each person, the second carrying one error type at a high rate.

:func:`stress_records` writes, for a population, source ``a`` (each person as they are) and source ``b`` (the
same people with ONE error type applied to every person it can apply to, or to a share ``rate`` of them), so a
blocking rule set's pairs completeness can be measured per error type. :func:`mixed_records` is another error
model: each second record carries every error type independently (several at once per record) and blanks.

The errors are written from what each error is in real records, not from the partner error model of
:mod:`synthetic.corrupt`, and broader than it (a digit anywhere in a date, a typo at any position including the
first letter, a move anywhere):

* ``name_swap``         first name and surname exchanged
* ``nickname``          the everyday name the person has, else a short form of the first name (ROBERT -> ROB,
                        ROBBIE), of any first letter
* ``spelling``          a spelling variant of the first name or the surname (PH/F, doubled or single
                        consonant, Y/I/IE/EY endings, C/K, S/Z, SON/SEN, MC/MAC ...)
* ``marriage``          the surname replaced by another (the person's former surname, else someone else's)
* ``double_barrelled``  the surname joined to another, before or after it, with a hyphen or a space
* ``dob_day_month``     day and month of the birth date swapped (day 12 or less, day not the month)
* ``dob_one_day``       the birth date a day out; ``dob_one_year`` a year out
* ``dob_one_digit``     one of the eight digits of the birth date (YYYYMMDD) mistyped, to another valid date
* ``moved``             another postcode: the person's previous one, else anyone's
* ``missing_nino``      the NI number blank in the second record
* ``typos_both_names``  one slip (a letter substituted, inserted or dropped, or two letters transposed) at any
                        position of the first name AND of the surname

Every function works on whole columns (a loop runs over rules or attempts, never over records); the same
people, error, rate and seed give the same records.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

ERROR_TYPES = (
    "name_swap", "nickname", "spelling", "marriage", "double_barrelled", "dob_day_month", "dob_one_day",
    "dob_one_year", "dob_one_digit", "moved", "missing_nino", "typos_both_names",
)
COLUMNS = ("first_name", "surname", "dob", "sex", "postcode", "nino")
EARLIEST = np.datetime64("1900-01-01", "D")
_LETTERS = np.array(list("ABCDEFGHIJKLMNOPQRSTUVWXYZ"), dtype=object)

# spelling variants: (pattern, replacement) with regex groups, applied once to a value the pattern fits
_SPELLING = (
    (r"PH", "F"), (r"F", "PH"), (r"Y$", "IE"), (r"IE$", "Y"), (r"EY$", "Y"), (r"Y$", "EY"),
    (r"([BCDFGKLMNPRSTZ])\1", r"\1"), (r"([AEIOU])([LNRT])([AEIOUY])", r"\1\2\2\3"), (r"C", "K"), (r"K", "C"),
    (r"Z", "S"), (r"S", "Z"), (r"SON$", "SEN"), (r"EI", "IE"), (r"IE", "EI"), (r"^MC", "MAC"), (r"^MAC", "MC"),
    (r"TH", "T"), (r"([A-Z])I([A-Z])", r"\1Y\2"), (r"([A-Z])Y([A-Z])", r"\1I\2"), (r"EA", "EE"), (r"AI", "AY"),
    (r"OU", "OW"), (r"E$", ""), (r"([^E])$", r"\1E"),
)


def people_frame(population: pd.DataFrame) -> pd.DataFrame:
    """The identifying fields of a population (:func:`synthetic.generate.population_and_employers`) as clean
    upper-case text, with the helpers the errors use (``nickname``, ``former_surname``,
    ``previous_postcode``)."""
    up = {c: population[c].astype("string").str.upper() for c in
          ("first_name", "surname", "nickname", "former_surname", "postcode", "previous_postcode", "nino", "sex")}
    return pd.DataFrame({**up, "dob": population["dob"].to_numpy().astype("datetime64[D]")})


def _mask(eligible: np.ndarray, rate: float, rng: np.random.Generator) -> np.ndarray:
    return eligible & (rng.random(len(eligible)) < rate)


def _other(values: pd.Series, rng: np.random.Generator) -> np.ndarray:
    """For each row, the value of another row chosen at random (never the same value if avoidable)."""
    v = values.to_numpy(dtype=object)
    n = len(v)
    pick = v[(np.arange(n) + rng.integers(1, max(n, 2), n)) % max(n, 1)] if n else v
    again = v[(np.arange(n) + rng.integers(1, max(n, 2), n)) % max(n, 1)] if n else v
    return np.where(pick == v, again, pick)


def slip(values: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One slip at a uniformly random position of each value (two or more letters): a letter substituted by
    another (35%), a letter inserted (20%), a letter dropped (20%) or two neighbours transposed (25%)."""
    s = pd.Series(values, dtype=object).astype(str)
    n = len(s)
    length = s.str.len().to_numpy()
    pos = (rng.random(n) * length).astype(np.int64)
    pos_t = (rng.random(n) * np.maximum(length - 1, 1)).astype(np.int64)
    letter = _LETTERS[rng.integers(0, 26, n)]
    kind = rng.choice(4, n, p=[0.35, 0.2, 0.2, 0.25])
    left = _slice(s, 0, pos)
    tail = _slice(s, pos + 1, length)
    here = _slice(s, pos, pos + 1)
    sub = left + pd.Series(letter) + tail
    sub = sub.where(here.to_numpy() != letter, left + pd.Series(np.roll(letter, 1)) + tail)
    ins = left + pd.Series(letter) + here + tail
    drop = left + tail
    a, b = _slice(s, pos_t, pos_t + 1), _slice(s, pos_t + 1, pos_t + 2)
    trans = _slice(s, 0, pos_t) + b + a + _slice(s, pos_t + 2, length)
    trans = trans.where(a.to_numpy() != b.to_numpy(), drop)
    out = np.select([kind == 0, kind == 1, kind == 2], [sub, ins, drop], trans)
    return np.where(out == s.to_numpy(), drop.to_numpy(), out).astype(object)


def _slice(s: pd.Series, start: np.ndarray | int, stop: np.ndarray | int) -> pd.Series:
    """Per-row ``s[i][start[i]:stop[i]]`` with whole-column operations (a character matrix)."""
    n = len(s)
    width = int(s.str.len().max()) if n else 0
    m = np.asarray(s.to_numpy(dtype=str), dtype=f"<U{max(width, 1)}")
    chars = m.view(np.uint32).reshape(n, max(width, 1)) if n else np.zeros((0, 1), np.uint32)
    j = np.arange(chars.shape[1])[None, :]
    start = np.broadcast_to(np.asarray(start), (n,))[:, None]
    stop = np.broadcast_to(np.asarray(stop), (n,))[:, None]
    keep = (j >= start) & (j < stop)
    order = np.argsort(~keep, axis=1, kind="stable")
    out = np.where(np.take_along_axis(keep, order, axis=1), np.take_along_axis(chars, order, axis=1), 0)
    return pd.Series(np.ascontiguousarray(out, dtype=np.uint32).view(f"<U{chars.shape[1]}").ravel(), dtype=object)


def spelling_variant(values: pd.Series, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(variant, changed) per value: one rule of the spelling table that changes it, chosen at random."""
    s = values.astype("string").fillna("")
    variants = [s.str.replace(pattern, repl, n=1, regex=True).to_numpy(dtype=object) for pattern, repl in _SPELLING]
    fits = np.stack([v != s.to_numpy(dtype=object) for v in variants], axis=1)
    score = np.where(fits, rng.random(fits.shape), -1.0)
    choice = score.argmax(axis=1)
    table = np.stack(variants, axis=1)
    out = table[np.arange(len(s)), choice] if len(s) else s.to_numpy(dtype=object)
    changed = fits.any(axis=1)
    return np.where(changed, out, s.to_numpy(dtype=object)), changed


def _short_form(first: pd.Series, rng: np.random.Generator) -> np.ndarray:
    """ROBERT -> ROB / ROBBIE / ROBBY: the first three or four letters, with an -IE or -Y ending half the time."""
    s = first.astype("string").fillna("")
    stem = s.str.slice(0, 3).where(rng.random(len(s)) < 0.6, s.str.slice(0, 4))
    last = stem.str.slice(-1)
    double = stem + last.where(last.isin(list("BDGLMNPRT")), "")
    ending = rng.choice(3, len(s))
    return np.select([ending == 0, ending == 1], [stem, double + "IE"], double + "Y").astype(object)


def _names(b: pd.DataFrame, error: str, rate: float, rng: np.random.Generator) -> np.ndarray:
    first, sur = b["first_name"], b["surname"]
    has = first.notna().to_numpy() & sur.notna().to_numpy()
    if error == "name_swap":
        m = _mask(has & (first != sur).to_numpy(dtype=bool, na_value=False), rate, rng)
        b.loc[m, ["first_name", "surname"]] = b.loc[m, ["surname", "first_name"]].to_numpy()
    elif error == "nickname":
        own = b["nickname"].notna().to_numpy() & (b["nickname"] != first).to_numpy(dtype=bool, na_value=False)
        use_own = own & (rng.random(len(b)) < 0.5)
        nick = np.where(use_own, b["nickname"].to_numpy(dtype=object), _short_form(first, rng))
        m = _mask(has & (nick != first.to_numpy(dtype=object)), rate, rng)
        b.loc[m, "first_name"] = nick[m]
    elif error == "spelling":
        on_first = rng.random(len(b)) < 0.5
        v1, c1 = spelling_variant(first, rng)
        v2, c2 = spelling_variant(sur, rng)
        m = _mask(has & np.where(on_first, c1, c2), rate, rng)
        b.loc[m & on_first, "first_name"] = v1[m & on_first]
        b.loc[m & ~on_first, "surname"] = v2[m & ~on_first]
    elif error in ("marriage", "double_barrelled"):
        other = np.where(b["former_surname"].notna().to_numpy() & (error == "marriage"),
                         b["former_surname"].to_numpy(dtype=object), _other(sur, rng))
        if error == "double_barrelled":
            joiner = np.where(rng.random(len(b)) < 0.7, "-", " ")
            after = rng.random(len(b)) < 0.5
            s = sur.fillna("").to_numpy(dtype=object)
            other = np.where(after, s + joiner + other, other + joiner + s)
        m = _mask(has & pd.notna(other) & (other != sur.to_numpy(dtype=object)), rate, rng)
        b.loc[m, "surname"] = other[m]
    else:  # typos_both_names
        ok = has & (first.str.len() >= 2).to_numpy(dtype=bool, na_value=False)
        ok &= (sur.str.len() >= 2).to_numpy(dtype=bool, na_value=False)
        m = _mask(ok, rate, rng)
        b.loc[m, "first_name"] = slip(first[m].to_numpy(dtype=object), rng)
        b.loc[m, "surname"] = slip(sur[m].to_numpy(dtype=object), rng)
    return m


def one_digit(dob: np.ndarray, rng: np.random.Generator, latest: np.datetime64) -> tuple[np.ndarray, np.ndarray]:
    """(date, changed): one digit of YYYYMMDD replaced by another, where that gives a valid date between 1900
    and ``latest`` (up to 20 draws per date; a date with no such draw is left unchanged)."""
    text = pd.Series(pd.DatetimeIndex(dob).strftime("%Y%m%d"), dtype=object)
    out = dob.copy()
    todo = np.ones(len(dob), dtype=bool)
    for _ in range(20):  # attempts, each over every date still unchanged
        idx = np.flatnonzero(todo)
        if not len(idx):
            break
        pos = rng.integers(0, 8, len(idx))
        t = text.iloc[idx].reset_index(drop=True)
        old = _slice(t, pos, pos + 1)
        new = ((old.astype(int).to_numpy() + rng.integers(1, 10, len(idx))) % 10).astype(str)
        cand = _slice(t, 0, pos) + pd.Series(new, dtype=object) + _slice(t, pos + 1, 8)
        when = pd.to_datetime(cand, format="%Y%m%d", errors="coerce").to_numpy().astype("datetime64[D]")
        ok = ~np.isnat(when) & (when >= EARLIEST) & (when <= latest)
        out[idx[ok]] = when[ok]
        todo[idx[ok]] = False
    return out, ~todo


def _dates(b: pd.DataFrame, error: str, rate: float, rng: np.random.Generator, latest: np.datetime64) -> np.ndarray:
    dob = b["dob"].to_numpy().astype("datetime64[D]")
    has = ~np.isnat(dob)
    d = pd.DatetimeIndex(dob)
    day, month, year = np.asarray(d.day), np.asarray(d.month), np.asarray(d.year)
    if error == "dob_day_month":
        m = _mask(has & (day <= 12) & (day != month), rate, rng)
        new = pd.to_datetime(pd.DataFrame({"year": year[m], "month": day[m], "day": month[m]}))
        dob[m] = new.to_numpy().astype("datetime64[D]")
    elif error == "dob_one_day":
        m = _mask(has, rate, rng)
        dob[m] = dob[m] + np.where(rng.random(int(m.sum())) < 0.5, -1, 1).astype("timedelta64[D]")
    elif error == "dob_one_year":
        m = _mask(has, rate, rng)
        shift = np.where(rng.random(int(m.sum())) < 0.5, -1, 1)
        dd = np.where((month[m] == 2) & (day[m] == 29), 28, day[m])
        new = pd.to_datetime(pd.DataFrame({"year": year[m] + shift, "month": month[m], "day": dd}))
        dob[m] = new.to_numpy().astype("datetime64[D]")
    else:  # dob_one_digit
        new, changed = one_digit(dob, rng, latest)
        m = _mask(has & changed, rate, rng)
        dob[m] = new[m]
    b["dob"] = dob
    return m


def apply_error(b: pd.DataFrame, error: str, rate: float, rng: np.random.Generator,
                latest: np.datetime64) -> np.ndarray:
    """Apply one error type to the people frame ``b`` in place; the mask of the rows it changed."""
    if error not in ERROR_TYPES:
        raise ValueError(f"unknown error type '{error}' (known: {', '.join(ERROR_TYPES)})")
    if error.startswith("dob_"):
        return _dates(b, error, rate, rng, latest)
    if error == "moved":
        prev = b["previous_postcode"].to_numpy(dtype=object)
        use_prev = pd.notna(prev) & (rng.random(len(b)) < 0.5)
        new = np.where(use_prev, prev, _other(b["postcode"], rng))
        m = _mask(b["postcode"].notna().to_numpy() & (new != b["postcode"].to_numpy(dtype=object)), rate, rng)
        b.loc[m, "postcode"] = new[m]
        return m
    if error == "missing_nino":
        m = _mask(b["nino"].notna().to_numpy(), rate, rng)
        b.loc[m, "nino"] = None
        return m
    return _names(b, error, rate, rng)


def _records(a: pd.DataFrame, b: pd.DataFrame) -> pd.DataFrame:
    """Sources ``a`` then ``b`` as raw text records (``source``, ``record_id``, the :data:`COLUMNS`)."""
    frames = []
    for name, part in (("a", a), ("b", b)):
        out = pd.DataFrame({"source": name, "record_id": name + pd.Series(np.arange(len(part))).astype(str)})
        for c in COLUMNS:
            v = part[c]
            if c == "dob":
                text = pd.Series(pd.DatetimeIndex(v).strftime("%Y-%m-%d"), dtype=object)
                out[c] = text.where(~np.isnat(v.to_numpy().astype("datetime64[D]")), None).to_numpy()
            else:
                out[c] = v.astype(object).where(v.notna(), None).to_numpy()
        frames.append(out)
    return pd.concat(frames, ignore_index=True)


BLANKABLE = ("nino", "first_name", "surname", "dob", "postcode")


def blank_one(b: pd.DataFrame, rng: np.random.Generator) -> np.ndarray:
    """Blank one identifying field (of :data:`BLANKABLE`, chosen at random) in every row; the field index."""
    which = rng.integers(0, len(BLANKABLE), len(b))
    for k, c in enumerate(BLANKABLE):
        sel = which == k
        b.loc[sel, c] = pd.NaT if c == "dob" else None
    return which


def stress_records(people: pd.DataFrame, error: str, seed: int, latest: np.datetime64,
                   rate: float = 1.0, blank: bool = False) -> tuple[pd.DataFrame, np.ndarray]:
    """(records, changed): every person twice, as source ``a`` (rows 0..N-1) and source ``b`` (rows N..2N-1, the
    same order) with ``error`` applied to a share ``rate`` of the people it can apply to; ``changed[i]`` says
    whether person ``i``'s second record carries it. With ``blank``, the second record also lacks one
    identifying field chosen at random (:func:`blank_one`: a partner that does not hold it)."""
    rng = np.random.default_rng([seed, ERROR_TYPES.index(error), int(blank)])
    b = people.copy()
    changed = apply_error(b, error, rate, rng, latest)
    if blank:
        blank_one(b, rng)
    return _records(people, b), changed


def mixed_records(people: pd.DataFrame, seed: int, latest: np.datetime64, rate: float = 0.2,
                  blank: float = 0.1) -> tuple[pd.DataFrame, np.ndarray]:
    """(records, errors): another error model: the second record of each person carries every error type
    independently with probability ``rate`` (so often several at once), then each identifying field is blank
    with probability ``blank``; ``errors[i]`` counts the error types and blanks person ``i``'s second record
    carries."""
    rng = np.random.default_rng([seed, len(ERROR_TYPES)])
    b = people.copy()
    count = np.zeros(len(b), dtype=np.int64)
    for error in ERROR_TYPES:  # a loop over error types, each over whole columns
        count += apply_error(b, error, rate, rng, latest)
    for c in ("first_name", "surname", "dob", "postcode", "nino"):
        m = _mask(b[c].notna().to_numpy(), blank, rng)
        b.loc[m, c] = pd.NaT if c == "dob" else None
        count += m
    return _records(people, b), count

"""Monthly deliveries: the synthetic extracts as K deliveries with new, updated and deleted records.

:func:`generate_batches` generates the full data once, exactly as :func:`synthetic.generate` does (same
seed, same people, same records), then deals every partner's records into K monthly deliveries:

* **Delivery dates.** Delivery K is the reference date (the extract date of the full data); delivery k < K
  is the last day of the month K - k months earlier. A record is *new* in the first delivery whose date is
  on or after the date it was created (so delivery 1 carries the backlog up to its month end, and a
  client's repeat records arrive in later deliveries); a record without a created date is dealt to a
  delivery at random (seeded).
* **Updates.** In every delivery after the first, about ``batches.updated`` of a partner's live records
  delivered earlier are re-sent under the same source and record id with one change; ``batches.changes``
  splits them between the kinds (each kind drawn only among the records it is possible for, so a kind with
  too few such records falls short): ``postcode`` -- a stale, mistyped or missing postcode brought up to
  date, otherwise the client moved to another postcode of the same area; ``name`` -- a keyboard or OCR
  slip corrected (forename and surname set to the person's own, in the partner's case); ``nino`` -- the
  person's NI number added where the record had none. The record's "last updated" column, where it has
  one, moves into the delivery's month. The truth ``person_id`` never changes.
* **Deletions.** Of the other live records delivered earlier, each is deleted with probability
  ``batches.deleted``; a share ``batches.consent_withdrawn`` of deletions give that reason, the rest
  ``deleted``. A deleted record is never sent again.

Layout written under ``out_dir``::

    truth.csv                     every record ever delivered (source, record_id, person_id)
    batches.json                  per delivery: date, and new / updated / deleted counts per source
    data_dictionary.md            the partners' columns, and this layout
    employer_truth.csv            truth of the employer extracts (in all/extracts only)
    person_employer_truth.csv     each record's employer (as synthetic.generate writes it)
    batch_01/extracts/<files>     each partner's file in its own format, header only if empty that month
    batch_01/extracts/deletions.csv  source, record_id, reason  (records delivered earlier; part of the delivery)
    batch_01/truth.csv            cumulative truth of the records live after this delivery
    ...
    all/extracts/<files>          the live records after the last delivery (latest versions), in one go
    all/truth.csv                 their truth (the same rows as the last batch's truth.csv)

Every partner file is in every delivery. A JSON-lines partner with nothing in a month gets an empty file
(JSON lines have no header). Extract-date columns carry the delivery date. Same people/seed/config/profile
-> byte-identical files.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from pace_linkage.config import PaceConfig
from pace_linkage.errors import ConfigError
from synthetic import partners as _partners
from synthetic import write as _write
from synthetic.generate import (
    PartnerExtract,
    partner_extracts,
    partner_rng,
    population_and_employers,
    setup,
    write_employers,
    write_person_employer_truth,
)
from synthetic.settings import BatchSettings, SynthSettings

CHANGE_KINDS = ("postcode", "name", "nino")
DELETION_REASONS = ("deleted", "consent_withdrawn")
TRUTH_COLUMNS = ["source", "record_id", "person_id"]
DELETION_COLUMNS = ["source", "record_id", "reason"]


# --------------------------------------------------------------------------------------------------
# Delivery dates and the first delivery of each record
# --------------------------------------------------------------------------------------------------
def delivery_dates(reference: dt.date, batches: int) -> np.ndarray:
    """Delivery k (1-based) of K: the last day of the month K - k months before the reference month,
    and the reference date itself for the last delivery."""
    ref = np.datetime64(reference, "D")
    month = ref.astype("datetime64[M]")
    ends = [(month - (batches - 1 - i) + 1).astype("datetime64[D]") - 1 for i in range(batches - 1)]
    return np.array([*ends, ref], dtype="datetime64[D]")


def first_delivery(created: np.ndarray, dates: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """0-based delivery of each record: the first delivery dated on or after its created date (a record
    created after the last delivery date goes into the last); no date -> a seeded random delivery."""
    c = np.asarray(created).astype("datetime64[D]")
    k = len(dates)
    random = rng.integers(0, k, len(c))
    idx = np.minimum(np.searchsorted(dates, np.where(np.isnat(c), dates[0], c), side="left"), k - 1)
    return np.where(np.isnat(c), random, idx)


# --------------------------------------------------------------------------------------------------
# Changes a re-sent record can carry
# --------------------------------------------------------------------------------------------------
def _text(values) -> np.ndarray:
    """Cells as text ('' for None/NaN), for comparing values."""
    s = pd.Series(values, dtype=object)
    return s.where(s.notna(), "").astype(str).to_numpy(dtype=object)


def _squash(values: np.ndarray) -> np.ndarray:
    return (
        pd.Series(values, dtype=object).str.upper().str.replace(r"\s+", "", regex=True).to_numpy(dtype=object)
    )


@dataclass
class PostcodePool:
    """Every distinct (area, postcode) of the population, sorted, to draw a new address in an area."""

    codes: np.ndarray
    start: np.ndarray
    count: np.ndarray
    area_names: np.ndarray

    @classmethod
    def of(cls, population: pd.DataFrame) -> PostcodePool:
        pairs = (
            population[["area", "postcode"]]
            .dropna()
            .drop_duplicates()
            .sort_values(["area", "postcode"], kind="stable")
            .reset_index(drop=True)
        )
        names, start, count = np.unique(
            pairs["area"].to_numpy(dtype=str), return_index=True, return_counts=True
        )
        return cls(pairs["postcode"].to_numpy(dtype=object), start, count, names)

    def other(self, area: np.ndarray, current: np.ndarray, u: np.ndarray) -> np.ndarray:
        """A postcode of the same area other than ``current`` (None where the area has no other)."""
        a = np.asarray(area, dtype=str)
        i = np.clip(np.searchsorted(self.area_names, a), 0, len(self.area_names) - 1)
        known = self.area_names[i] == a
        start, count = self.start[i], np.where(known, self.count[i], 1)
        pick = start + (u * count).astype(np.int64)
        same = self.codes[pick] == current
        pick = np.where(same, start + (pick - start + 1) % count, pick)
        out = self.codes[pick].copy()
        out[~known | (out == current)] = None
        return out


@dataclass
class _Partner:
    """One partner's records while they are being delivered: the current version of every record and
    what each record can still change to."""

    part: PartnerExtract
    pace: PaceConfig
    settings: SynthSettings
    current: pd.DataFrame  # latest version of every record (the partner's own columns)
    person_postcode: np.ndarray  # where the person lives now, as far as this record knows
    area: np.ndarray
    clean_first: np.ndarray
    clean_surname: np.ndarray
    person_nino: np.ndarray
    slip: np.ndarray  # a keyboard/OCR slip was made in the name
    columns: dict[str, str] = field(default_factory=dict)  # attribute -> the partner's column

    @property
    def src(self):
        return self.part.src

    def column(self, attr: str) -> str | None:
        return self.columns.get(attr)

    def dates(self, values: np.ndarray) -> np.ndarray:
        """Dates rendered as the partner writes them (text in its format, or Excel date cells)."""
        style = self.settings.partners[self.src.name].style
        if self.src.format == "xlsx" and style.xlsx_dates == "cells":
            return _partners.date_cells(values)
        return _partners.format_dates(values, _partners.date_format(self.src, self.pace))

    # candidate new values, for every record; None/'' where the change is not possible
    def new_postcode(self, u: np.ndarray, pool: PostcodePool) -> tuple[np.ndarray, np.ndarray]:
        col = self.column("postcode")
        n = len(self.current)
        if col is None:
            return np.full(n, None, dtype=object), np.zeros(n, dtype=bool)
        cur = _text(self.current[col].to_numpy(dtype=object))
        home = self.person_postcode
        stale = _squash(cur) != _squash(_text(home))
        moved = pool.other(self.area, home, u)
        new = np.where(stale & pd.notna(home), home, moved)
        ok = pd.notna(new) & (_text(new) != cur)
        return new, ok

    def new_names(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        fcol, scol = self.column("first_name"), self.column("surname")
        n = len(self.current)
        upper = self.settings.partners[self.src.name].style.name_case == "upper"
        first = pd.Series(self.clean_first, dtype=object)
        last = pd.Series(self.clean_surname, dtype=object)
        if upper:
            first, last = first.str.upper(), last.str.upper()
        first, last = first.to_numpy(dtype=object), last.to_numpy(dtype=object)
        differs = np.zeros(n, dtype=bool)
        for col, new in ((fcol, first), (scol, last)):
            if col is not None:
                differs |= _text(self.current[col].to_numpy(dtype=object)) != _text(new)
        return first, last, self.slip & differs & (fcol is not None or scol is not None)

    def new_nino(self) -> tuple[np.ndarray, np.ndarray]:
        col = self.column("nino")
        n = len(self.current)
        if col is None:
            return np.full(n, None, dtype=object), np.zeros(n, dtype=bool)
        style = self.settings.partners[self.src.name].style.nino
        new = _partners._nino(pd.Series(self.person_nino, dtype=object), style).to_numpy(dtype=object)
        empty = _text(self.current[col].to_numpy(dtype=object)) == ""
        return new, empty & pd.notna(self.person_nino)

    def set(self, col: str | None, mask: np.ndarray, values: np.ndarray) -> None:
        if col is not None and mask.any():
            cur = self.current[col].to_numpy(dtype=object).copy()
            cur[mask] = np.asarray(values, dtype=object)[mask]
            self.current[col] = cur

    def version(self, rows: np.ndarray, delivered: np.datetime64) -> pd.DataFrame:
        """The rows as delivered on ``delivered``: latest versions, extract date = delivery date."""
        frame = self.current.loc[rows].reset_index(drop=True)
        col = self.column("extract_date")
        if col is not None and len(frame):
            frame[col] = self.dates(np.full(len(frame), delivered))
        return frame


def _prepare(
    part: PartnerExtract,
    population: pd.DataFrame,
    pace: PaceConfig,
    settings: SynthSettings,
    delivery: np.ndarray,
    dates: np.ndarray,
) -> _Partner:
    rec = part.rec
    person = pd.Index(population["person_id"]).get_indexer(rec["person_id"])
    pop = population.iloc[person].reset_index(drop=True)
    regular = (pop["nino_kind"] == "regular").to_numpy()
    slip = np.zeros(len(rec), dtype=bool)
    for key in ("typo", "ocr"):
        if key in part.masks:
            slip |= np.asarray(part.masks[key], dtype=bool)
    columns: dict[str, str] = {}
    for col, attr in settings.partners[part.src.name].columns.items():
        columns.setdefault(attr, col)
    p = _Partner(
        part=part,
        pace=pace,
        settings=settings,
        current=part.frame.copy(),
        person_postcode=pop["postcode"].to_numpy(dtype=object),
        area=pop["area"].to_numpy(dtype=object),
        clean_first=pop["first_name"].to_numpy(dtype=object),
        clean_surname=pop["surname"].to_numpy(dtype=object),
        person_nino=np.where(regular, pop["nino"].to_numpy(dtype=object), None),
        slip=slip,
        columns=columns,
    )
    # a record's "last updated" date cannot be after the delivery that first carries it: its place
    # between created and the reference date is kept, between created and that delivery
    ucol = p.column("updated")
    if ucol is not None:
        created = rec["created"].to_numpy().astype("datetime64[D]")
        updated = rec["updated"].to_numpy().astype("datetime64[D]")
        whole = (dates[-1] - created).astype(np.int64)
        part_span = np.maximum((dates[delivery] - created).astype(np.int64), 0)
        frac = np.where(whole > 0, (updated - created).astype(np.int64) / np.maximum(whole, 1), 0.0)
        days = np.floor(frac * part_span).astype(np.int64)
        unknown = np.isnat(updated) | np.isnat(created)
        p.current[ucol] = p.dates(np.where(unknown, updated, created + days.astype("timedelta64[D]")))
    return p


def _choose(
    earlier: np.ndarray, eligible: list[np.ndarray], rules: BatchSettings, draws: list[np.ndarray]
) -> np.ndarray:
    """Which earlier records are re-sent, and with which change (index into :data:`CHANGE_KINDS`, -1 for
    none). Kind c is aimed at ``updated * weight_c / sum(weights)`` of the earlier records, drawn among the
    records it is possible for (all of them when fewer are), a record taking at most one change."""
    weights = np.array([getattr(rules.changes, c) for c in CHANGE_KINDS], dtype=float)
    share = rules.updated * weights / weights.sum()
    n_earlier = int(earlier.sum())
    kind = np.full(len(earlier), -1, dtype=np.int64)
    for c, (ok, u) in enumerate(zip(eligible, draws, strict=True)):
        pool = earlier & ok & (kind < 0)
        size = int(pool.sum())
        if size:
            kind[pool & (u < min(1.0, share[c] * n_earlier / size))] = c
    return kind


# --------------------------------------------------------------------------------------------------
# Dealing one partner's records
# --------------------------------------------------------------------------------------------------
@dataclass
class _Dealt:
    """One partner's records dealt into the deliveries."""

    source: str
    records: int  # the partner's records (each record id once, however often it is re-sent)
    counts: list[dict[str, int]]  # per delivery: new, updated, deleted, and per change kind
    truth: list[pd.DataFrame]  # per delivery: live records after it
    deletions: list[pd.DataFrame]  # per delivery
    live: int = 0


def _deal(
    part: PartnerExtract,
    population: pd.DataFrame,
    pool: PostcodePool,
    pace: PaceConfig,
    settings: SynthSettings,
    rules: BatchSettings,
    seed: int,
    dates: np.ndarray,
    out_dir: Path,
    folders: list[str],
) -> _Dealt:
    """Write this partner's file into every delivery and into all/; return its counts and truth."""
    name = part.src.name
    rng = partner_rng(seed, "batches:" + name)
    n = len(part.rec)
    delivery = first_delivery(part.rec["created"].to_numpy(), dates, rng)
    p = _prepare(part, population, pace, settings, delivery, dates)
    record_id = part.rec["record_id"].to_numpy(dtype=object)
    person_id = part.rec["person_id"].to_numpy(dtype=object)
    live = np.ones(n, dtype=bool)
    out = _Dealt(name, n, [], [], [])
    for k, folder in enumerate(folders):
        # fixed-size draws every delivery, so a record's fate does not depend on the others'
        u_pc, u_name, u_nino, u_delete, u_reason, u_move, u_day = (rng.random(n) for _ in range(7))
        new = delivery == k
        earlier = live & (delivery < k)
        counts = {"new": int(new.sum()), "updated": 0, "deleted": 0, **{c: 0 for c in CHANGE_KINDS}}
        updated = np.zeros(n, dtype=bool)
        deleted = np.zeros(n, dtype=bool)
        reasons = np.full(n, DELETION_REASONS[0], dtype=object)
        if k > 0:
            pc_new, pc_ok = p.new_postcode(u_move, pool)
            first, last, name_ok = p.new_names()
            ni_new, ni_ok = p.new_nino()
            kind = _choose(earlier, [pc_ok, name_ok, ni_ok], rules, [u_pc, u_name, u_nino])
            updated = kind >= 0
            for i, kind_name in enumerate(CHANGE_KINDS):
                counts[kind_name] = int((updated & (kind == i)).sum())
            pc_rows = updated & (kind == 0)
            p.set(p.column("postcode"), pc_rows, pc_new)
            p.person_postcode = np.where(pc_rows, pc_new, p.person_postcode)
            name_rows = updated & (kind == 1)
            p.set(p.column("first_name"), name_rows, first)
            p.set(p.column("surname"), name_rows, last)
            p.set(p.column("nino"), updated & (kind == 2), ni_new)
            ucol = p.column("updated")
            if ucol is not None:
                span = (dates[k] - dates[k - 1]).astype(np.int64)
                day = dates[k - 1] + (1 + (u_day * span).astype(np.int64)).astype("timedelta64[D]")
                p.set(ucol, updated, p.dates(np.minimum(day, dates[k])))
            deleted = earlier & ~updated & (u_delete < rules.deleted)
            reasons = np.where(u_reason < rules.consent_withdrawn, DELETION_REASONS[1], DELETION_REASONS[0])
            counts["updated"], counts["deleted"] = int(updated.sum()), int(deleted.sum())
        extracts = out_dir / folder / "extracts"
        _write.write_extract(p.version(new | updated, dates[k]), part.src, extracts, part.crlf)
        live &= ~deleted
        out.deletions.append(
            pd.DataFrame({"source": name, "record_id": record_id[deleted], "reason": reasons[deleted]})
        )
        so_far = live & (delivery <= k)
        out.truth.append(
            pd.DataFrame({"source": name, "record_id": record_id[so_far], "person_id": person_id[so_far]})
        )
        out.counts.append(counts)
    _write.write_extract(p.version(live, dates[-1]), part.src, out_dir / "all" / "extracts", part.crlf)
    out.live = int(live.sum())
    return out


# --------------------------------------------------------------------------------------------------
# Entry point
# --------------------------------------------------------------------------------------------------
def _csv(frames: list[pd.DataFrame], columns: list[str], path: Path) -> None:
    frame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)
    frame[columns].to_csv(path, index=False, lineterminator="\n")


def folder_names(batches: int) -> list[str]:
    width = max(2, len(str(batches)))
    return [f"batch_{k:0{width}d}" for k in range(1, batches + 1)]


def generate_batches(
    people: int,
    seed: int,
    out_dir: Path,
    batches: int,
    config_path: Path | None = None,
    profile: str = "default",
) -> dict:
    """Generate the full synthetic data once and write it as ``batches`` monthly deliveries (see the
    module docstring for the rules and the layout); return the summary also written to batches.json
    (plus ``seconds``)."""
    t0 = time.perf_counter()
    if batches < 2:
        raise ConfigError("synthetic: batches must be at least 2")
    pace, cfg_dir, settings = setup(people, config_path, profile)
    if settings.batches is None:
        raise ConfigError(f"{settings.config_file}: batches: required key missing (needed by --batches)")
    rules = settings.batches
    out_dir = Path(out_dir)
    folders = folder_names(batches)
    for folder in [*folders, "all"]:
        (out_dir / folder / "extracts").mkdir(parents=True, exist_ok=True)
    dates = delivery_dates(settings.reference_date, batches)

    population, employers = population_and_employers(people, seed, settings)
    pool = PostcodePool.of(population)
    truth: list[pd.DataFrame] = []
    dealt: list[_Dealt] = []
    for part in partner_extracts(population, seed, pace, settings, profile):
        truth.append(part.truth())
        dealt.append(_deal(part, population, pool, pace, settings, rules, seed, dates, out_dir, folders))
        del part  # one partner's records in memory at a time
    _csv(truth, TRUTH_COLUMNS, out_dir / "truth.csv")
    write_person_employer_truth(pd.concat(truth, ignore_index=True), population, out_dir)
    deliveries = _write_deliveries(dealt, folders, dates, out_dir)
    _csv([d.truth[-1] for d in dealt], TRUTH_COLUMNS, out_dir / "all" / "truth.csv")
    emp_records = write_employers(employers, seed, settings, profile, out_dir / "all" / "extracts", out_dir)

    records = {d.source: d.records for d in dealt}
    live = {d.source: d.live for d in dealt}
    summary = {
        "people": people,
        "seed": seed,
        "profile": profile,
        "batches": batches,
        "rules": rules.model_dump(),
        "records": records,
        "total_records": int(sum(records.values())),
        "live_records": live,
        "total_live_records": int(sum(live.values())),
        "employer_records": emp_records,
        "deliveries": deliveries,
    }
    _write_summary(summary, pace, settings, cfg_dir, out_dir)
    summary["seconds"] = round(time.perf_counter() - t0, 2)
    return summary


def _write_deliveries(dealt: list[_Dealt], folders: list[str], dates: np.ndarray, out_dir: Path) -> list[dict]:
    """Each delivery's ``truth.csv`` (the records live after it) and ``extracts/deletions.csv``; return each
    delivery's entry in batches.json: its number, folder and date, the previous delivery's date (its new
    records were created after it; None for the first), the new, updated and deleted records per source
    with their total, the updates by kind of change, and the records live after it."""
    deliveries = []
    for k, folder in enumerate(folders):
        _csv([d.truth[k] for d in dealt], TRUTH_COLUMNS, out_dir / folder / "truth.csv")
        _csv([d.deletions[k] for d in dealt], DELETION_COLUMNS, out_dir / folder / "extracts" / "deletions.csv")
        per = {key: {d.source: d.counts[k][key] for d in dealt} for key in ("new", "updated", "deleted")}
        deliveries.append(
            {
                "batch": k + 1,
                "folder": folder,
                "delivery_date": str(dates[k]),
                "records_created_after": None if k == 0 else str(dates[k - 1]),
                **{key: {**v, "total": int(sum(v.values()))} for key, v in per.items()},
                "changes": {c: int(sum(d.counts[k][c] for d in dealt)) for c in CHANGE_KINDS},
                "live_after": int(sum(len(d.truth[k]) for d in dealt)),
            }
        )
    return deliveries


def _write_summary(summary: dict, pace: PaceConfig, settings: SynthSettings, cfg_dir: Path, out_dir: Path) -> None:
    """``batches.json`` (the summary) and ``data_dictionary.md`` (the partners' columns, then the layout of
    the monthly deliveries)."""
    (out_dir / "batches.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    text = _write.data_dictionary(
        pace,
        settings,
        summary,
        _partners.ATTRIBUTES,
        _partners.EMPLOYER_ATTRIBUTES,
        cfg_dir / "partnership.yaml",
    )
    (out_dir / "data_dictionary.md").write_text(text + "\n\n" + _layout(summary) + "\n", encoding="utf-8")


def _layout(summary: dict) -> str:
    """The data dictionary's section on the monthly deliveries."""
    rules = summary["rules"]
    lines = [
        "## Monthly deliveries",
        "",
        f"The records above are delivered in {summary['batches']} monthly batches (`batch_01/` ... "
        f"`{summary['deliveries'][-1]['folder']}/`), each with `extracts/` (every partner's file in its own "
        "format; header only, or an empty JSON-lines file, when a partner has nothing that month), "
        "`extracts/deletions.csv` (`source,record_id,reason`, reason `deleted` or `consent_withdrawn`, records "
        "delivered earlier) and `truth.csv` (every record live after that delivery). A record is new in the "
        "first delivery on or after its created date. In each later delivery about "
        f"{rules['updated']:.1%} of the live records delivered earlier are re-sent with the same record id "
        "and one change (postcode, corrected name slip, or NI number added), and about "
        f"{rules['deleted']:.1%} are deleted. `all/extracts/` holds the live records after the last delivery "
        "(latest versions) in one go, with the employer extracts; `truth.csv` at the top covers every record "
        "ever delivered; `batches.json` has the counts.",
        "",
        "| Batch | Delivery date | New | Updated | Deleted | Live after |",
        "|---|---|---|---|---|---|",
    ]
    for d in summary["deliveries"]:
        lines.append(
            f"| {d['folder']} | {d['delivery_date']} | {d['new']['total']} | {d['updated']['total']} | "
            f"{d['deleted']['total']} | {d['live_after']} |"
        )
    return "\n".join(lines)

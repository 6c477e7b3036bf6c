"""One synthetic data set in one go: the population, every partner's extract, truth and the data dictionary.

The pieces (:class:`PartnerExtract`, :func:`partner_extracts`, :func:`write_employers` ...) are shared with
:mod:`synthetic.batches`, which writes the same records as monthly deliveries.
"""


from __future__ import annotations

import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from pace_linkage.config import PaceConfig, SourceConfig, load_config
from pace_linkage.errors import ConfigError
from synthetic import employer_extracts, partners, write
from synthetic.pools import build_pools
from synthetic.population import make_people
from synthetic.settings import SynthSettings, load_settings


def partner_rng(seed: int, name: str) -> np.random.Generator:
    """One stream per partner, keyed by its name (adding a partner does not change the others)."""
    return np.random.default_rng([seed, zlib.crc32(name.encode("utf-8"))])


@dataclass
class PartnerExtract:
    """One partner's generated records: ``rec`` (person helpers and the corrupted values, one row per
    record, in file order), ``frame`` (the file's own columns, as written) and the error masks applied."""

    src: SourceConfig
    rec: pd.DataFrame
    frame: pd.DataFrame
    masks: dict[str, np.ndarray]
    crlf: bool

    def truth(self) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "source": self.src.name,
                "record_id": self.rec["record_id"].to_numpy(),
                "person_id": self.rec["person_id"].to_numpy(),
            }
        )


def setup(people: int, config_path: Path | None, profile: str) -> tuple[PaceConfig, Path, SynthSettings]:
    if people < 1:
        raise ConfigError("synthetic: people must be at least 1")
    pace = load_config(config_path)
    cfg_dir = Path(pace.config_file).resolve().parent
    return pace, cfg_dir, load_settings(cfg_dir / "synthetic.yaml", pace, profile)


def population_and_employers(people: int, seed: int, settings: SynthSettings) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    pools = build_pools(seed)
    return make_people(people, pools, settings, rng, settings.reference_date)


def partner_extracts(
    population: pd.DataFrame, seed: int, pace: PaceConfig, settings: SynthSettings, profile: str
) -> Iterator[PartnerExtract]:
    """Every partner's records, one partner at a time (sorted by name), each from its own stream."""
    for src in sorted(pace.sources.items, key=lambda s: s.name):
        prng = partner_rng(seed, src.name)
        rec, applied = partners.build_records(src.name, population, settings, profile, prng)
        frame, shown = partners.render(rec, src.name, src, pace, settings, profile, prng)
        crlf = settings.partners[src.name].style.line_terminator == "crlf"
        yield PartnerExtract(src, rec, frame, {**applied, **shown}, crlf)


def write_employers(
    employers: pd.DataFrame, seed: int, settings: SynthSettings, profile: str, extracts: Path, out_dir: Path
) -> dict[str, int]:
    """The employer extracts into ``extracts`` and ``out_dir/employer_truth.csv``; records per extract."""
    emp_records: dict[str, int] = {}
    emp_truth: list[pd.DataFrame] = []
    multiplier = settings.profiles[profile].error_multiplier
    # registered numbers and second sites: one stream of their own, so the people's files do not change
    employers = employer_extracts.employer_registry(employers, settings.employers, partner_rng(seed, "employer-registry"))
    for name, ext in settings.employer_extracts.items():
        frame, t = employer_extracts.employer_extract(
            employers, ext, partner_rng(seed, "employer:" + name), multiplier
        )
        write.write_csv(frame, extracts / ext.file, ext.encoding, ext.delimiter)
        emp_records[name] = len(frame)
        t.insert(0, "source", name)
        emp_truth.append(t)
    emp_cols = ["source", "record_id", "employer_id"]
    (pd.concat(emp_truth, ignore_index=True) if emp_truth else pd.DataFrame(columns=emp_cols)).to_csv(
        out_dir / "employer_truth.csv", index=False, lineterminator="\n"
    )
    return emp_records


def write_person_employer_truth(truth: pd.DataFrame, population: pd.DataFrame, out_dir: Path) -> None:
    """``person_employer_truth.csv`` (source, record_id, employer_id): the employer that made each person record's
    person redundant (whether or not the record names it), for measuring people -> employer links."""
    emp = population.set_index("person_id")["employer_id"]
    out = truth[["source", "record_id"]].assign(employer_id=truth["person_id"].map(emp).to_numpy())
    out.to_csv(out_dir / "person_employer_truth.csv", index=False, lineterminator="\n")


def generate(
    people: int, seed: int, out_dir: Path, config_path: Path | None = None, profile: str = "default"
) -> dict:
    """Generate the population and every partner's extract; return a small summary.

    ``config_path`` is the pipeline config (default ``config/pace.yaml``); the generator settings are
    read from ``synthetic.yaml`` next to it (and ``partnership.yaml`` for the data dictionary).
    """
    t0 = time.perf_counter()
    pace, cfg_dir, settings = setup(people, config_path, profile)
    out_dir = Path(out_dir)
    extracts = out_dir / "extracts"
    extracts.mkdir(parents=True, exist_ok=True)

    population, employers = population_and_employers(people, seed, settings)

    records: dict[str, int] = {}
    errors: dict[str, dict[str, int]] = {}
    truth: list[pd.DataFrame] = []
    for part in partner_extracts(population, seed, pace, settings, profile):
        write.write_extract(part.frame, part.src, extracts, part.crlf)
        records[part.src.name] = len(part.frame)
        errors[part.src.name] = {k: int(v.sum()) for k, v in part.masks.items()}
        truth.append(part.truth())
        del part
    truth_df = pd.concat(truth, ignore_index=True)
    truth_df.to_csv(out_dir / "truth.csv", index=False, lineterminator="\n")
    write_person_employer_truth(truth_df, population, out_dir)

    emp_records = write_employers(employers, seed, settings, profile, extracts, out_dir)

    summary = {
        "people": people,
        "seed": seed,
        "profile": profile,
        "records": records,
        "total_records": int(sum(records.values())),
        "employers": len(employers),
        "employer_records": emp_records,
        "errors": errors,
    }
    text = write.data_dictionary(
        pace,
        settings,
        summary,
        partners.ATTRIBUTES,
        partners.EMPLOYER_ATTRIBUTES,
        cfg_dir / "partnership.yaml",
    )
    (out_dir / "data_dictionary.md").write_text(text + "\n", encoding="utf-8")
    summary["seconds"] = round(time.perf_counter() - t0, 2)
    return summary

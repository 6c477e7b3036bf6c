"""Synthetic PACE population and partner extracts.

``generate(people, seed, out_dir)`` writes ``out_dir/extracts/`` (one file per partner, in the
partner's own format as ``config/partners/<name>.yaml`` describes, plus employer extracts),
``out_dir/truth.csv`` and ``out_dir/employer_truth.csv`` (outside ``extracts/``) and
``out_dir/data_dictionary.md``. Same people/seed/config/profile -> byte-identical files.
"""

from __future__ import annotations

import time
import zlib
from pathlib import Path

import numpy as np
import pandas as pd

from pace_linkage.config import load_config
from pace_linkage.errors import ConfigError
from synthetic import partners as _partners
from synthetic import write as _write
from synthetic.population import build_pools, make_people
from synthetic.settings import load_settings

__all__ = ["generate"]


def _partner_rng(seed: int, name: str) -> np.random.Generator:
    """One stream per partner, keyed by its name (adding a partner does not change the others)."""
    return np.random.default_rng([seed, zlib.crc32(name.encode("utf-8"))])


def generate(
    people: int, seed: int, out_dir: Path, config_path: Path | None = None, profile: str = "default"
) -> dict:
    """Generate the population and every partner's extract; return a small summary.

    ``config_path`` is the pipeline config (default ``config/pace.yaml``); the generator settings are
    read from ``synthetic.yaml`` next to it (and ``partnership.yaml`` for the data dictionary).
    """
    t0 = time.perf_counter()
    if people < 1:
        raise ConfigError("synthetic: people must be at least 1")
    pace = load_config(config_path)
    cfg_dir = Path(pace.config_file).resolve().parent
    settings = load_settings(cfg_dir / "synthetic.yaml", pace, profile)
    out_dir = Path(out_dir)
    extracts = out_dir / "extracts"
    extracts.mkdir(parents=True, exist_ok=True)

    rng = np.random.default_rng(seed)
    pools = build_pools(seed)
    population, employers = make_people(people, pools, settings, rng, settings.reference_date)

    records: dict[str, int] = {}
    errors: dict[str, dict[str, int]] = {}
    truth: list[pd.DataFrame] = []
    for src in sorted(pace.sources.items, key=lambda s: s.name):
        prng = _partner_rng(seed, src.name)
        rec, applied = _partners.build_records(src.name, population, settings, profile, prng)
        frame, shown = _partners.render(rec, src.name, src, pace, settings, profile, prng)
        crlf = settings.partners[src.name].style.line_terminator == "crlf"
        _write.write_extract(frame, src, extracts, crlf)
        records[src.name] = len(frame)
        errors[src.name] = {k: int(v.sum()) for k, v in {**applied, **shown}.items()}
        truth.append(
            pd.DataFrame(
                {
                    "source": src.name,
                    "record_id": rec["record_id"].to_numpy(),
                    "person_id": rec["person_id"].to_numpy(),
                }
            )
        )
        del rec, frame
    pd.concat(truth, ignore_index=True).to_csv(out_dir / "truth.csv", index=False, lineterminator="\n")

    emp_records: dict[str, int] = {}
    emp_truth: list[pd.DataFrame] = []
    multiplier = settings.profiles[profile].error_multiplier
    for name, ext in settings.employer_extracts.items():
        frame, t = _partners.employer_extract(
            employers, ext, _partner_rng(seed, "employer:" + name), multiplier
        )
        _write.write_csv(frame, extracts / ext.file, ext.encoding, ext.delimiter)
        emp_records[name] = len(frame)
        t.insert(0, "source", name)
        emp_truth.append(t)
    emp_cols = ["source", "record_id", "employer_id"]
    (pd.concat(emp_truth, ignore_index=True) if emp_truth else pd.DataFrame(columns=emp_cols)).to_csv(
        out_dir / "employer_truth.csv", index=False, lineterminator="\n"
    )

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
    text = _write.data_dictionary(
        pace,
        settings,
        summary,
        _partners.ATTRIBUTES,
        _partners.EMPLOYER_ATTRIBUTES,
        cfg_dir / "partnership.yaml",
    )
    (out_dir / "data_dictionary.md").write_text(text + "\n", encoding="utf-8")
    summary["seconds"] = round(time.perf_counter() - t0, 2)
    return summary

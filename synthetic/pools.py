"""Value pools built once per run: names, places, sectors and streets to draw the population from.

Name, place and sector frequencies come from the tables in ``synthetic/data`` (built from common knowledge of
Scottish naming, shipped with the package); Faker (en_GB), seeded, is used only here, once, to build a small
pool of street names.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

DATA_DIR = Path(__file__).resolve().parent / "data"


@dataclass(frozen=True)
class Pools:
    """Small value pools built once per run (names, places, streets)."""

    male: np.ndarray
    male_p: np.ndarray
    female: np.ndarray
    female_p: np.ndarray
    surnames: np.ndarray
    surname_p: np.ndarray
    nick_formal: pd.Index  # forenames that have everyday forms
    nick_start: np.ndarray
    nick_count: np.ndarray
    nick_values: np.ndarray
    areas: pd.DataFrame  # area, town, dial_code, weight, districts (list of outward codes)
    sectors: pd.DataFrame  # sector, weight, words (list)
    places: np.ndarray
    suffixes: np.ndarray
    streets: np.ndarray


def weights(df: pd.DataFrame) -> np.ndarray:
    """A table's ``weight`` column as probabilities (summing to 1), in row order."""
    w = df["weight"].to_numpy(dtype=float)
    return w / w.sum()


def _expand_districts(area: str, spec: str) -> list[str]:
    out = []
    for part in spec.split(";"):
        lo, _, hi = part.partition("-")
        out += [f"{area}{d}" for d in range(int(lo), int(hi or lo) + 1)]
    return out


def build_pools(seed: int, data_dir: Path = DATA_DIR) -> Pools:
    """The pools from the tables in ``data_dir``; ``seed`` seeds Faker's street names."""
    from faker import Faker  # imported lazily: only needed to build the street pool once

    male = pd.read_csv(data_dir / "forenames_male.csv", keep_default_na=False)
    female = pd.read_csv(data_dir / "forenames_female.csv", keep_default_na=False)
    surnames = pd.read_csv(data_dir / "surnames.csv", keep_default_na=False)
    nick = pd.read_csv(data_dir / "nicknames.csv", keep_default_na=False).sort_values(
        ["name", "nickname"], kind="stable"
    )
    formal, start, count = np.unique(nick["name"].to_numpy(), return_index=True, return_counts=True)
    areas = pd.read_csv(data_dir / "postcode_areas.csv", keep_default_na=False, dtype={"dial_code": str})
    areas["districts"] = [
        _expand_districts(a, s) for a, s in zip(areas["area"], areas["districts"], strict=True)
    ]
    sectors = pd.read_csv(data_dir / "sectors.csv", keep_default_na=False)
    sectors["words"] = sectors["words"].str.split(";")
    parts = pd.read_csv(data_dir / "employer_parts.csv", keep_default_na=False)

    fake = Faker("en_GB")
    fake.seed_instance(seed)
    kinds = [
        "Street",
        "Road",
        "Crescent",
        "Drive",
        "Avenue",
        "Gardens",
        "Place",
        "Terrace",
        "Wynd",
        "Brae",
        "Court",
        "Loan",
        "Way",
        "Park",
        "View",
        "Lane",
    ]
    streets = sorted({f"{fake.last_name()} {kinds[fake.random_int(0, len(kinds) - 1)]}" for _ in range(600)})
    return Pools(
        male=male["name"].to_numpy(dtype=object),
        male_p=weights(male),
        female=female["name"].to_numpy(dtype=object),
        female_p=weights(female),
        surnames=surnames["name"].to_numpy(dtype=object),
        surname_p=weights(surnames),
        nick_formal=pd.Index(formal),
        nick_start=start,
        nick_count=count,
        nick_values=nick["nickname"].to_numpy(dtype=object),
        areas=areas,
        sectors=sectors,
        places=parts.loc[parts["part"] == "place", "value"].to_numpy(dtype=object),
        suffixes=parts.loc[parts["part"] == "suffix", "value"].to_numpy(dtype=object),
        streets=np.array(streets, dtype=object),
    )

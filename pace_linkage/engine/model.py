"""Fellegi-Sunter model: m and u per comparison level, the prior and term-frequency tables; its JSON form.

Parameters (per comparison with levels ``0..L-1`` plus the "else" level ``L``):

* ``m[k] = P(level k | match)``, ``u[k] = P(level k | non-match)``; the weight of a level is
  ``log2(m/u)``; the null level (gamma -1) always weighs 0.
* ``lambda_`` is the prior probability that two records drawn at random (respecting the link type) are the
  same person; the prior weight is ``log2(lambda / (1 - lambda))``.
* Term-frequency adjustment (levels with ``tf: true``, exact levels only): a pair at such a level gets
  ``log2(u_level / max(tf(value), tf_floor))`` added to that comparison's weight (Splink's TF adjustment),
  so agreeing on a rare surname counts more than on a common one. ``tf(value)`` is the value's share of
  the non-null records *being scored* (as Splink computes it from the input data), so a saved model holds
  only which column adjusts which level: no value, and no (dictionary-reversible) digest of one.

Training is in :mod:`pace_linkage.engine.training`.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field

import numpy as np

from pace_linkage.engine.levels import LEVEL_TYPES
from pace_linkage.engine.settings import ComparisonSpec, LinkageSettings
from pace_linkage.errors import LinkageError

MODEL_FORMAT = "pace-linkage-fs-model/1"


@dataclass
class ComparisonParams:
    """m, u (levels 0..L-1 then 'else') and term-frequency tables of one comparison."""

    name: str
    labels: list[str]
    m: np.ndarray
    u: np.ndarray
    tf_levels: dict[int, str] = field(default_factory=dict)  # level index -> column

    @property
    def n_levels(self) -> int:
        return len(self.m)

    def weights(self) -> np.ndarray:
        """log2(m/u) per level (last = else)."""
        return np.log2(self.m / self.u)


@dataclass
class FSModel:
    """A trained Fellegi-Sunter model."""

    comparisons: list[ComparisonParams]
    lambda_: float
    tf_floor: float = 1e-6
    method: str = "rules"
    info: dict = field(default_factory=dict)

    @property
    def prior_weight(self) -> float:
        return float(np.log2(self.lambda_ / (1.0 - self.lambda_)))

    def params(self, name: str) -> ComparisonParams:
        for c in self.comparisons:
            if c.name == name:
                return c
        raise LinkageError(f"model: no comparison named '{name}'")

    # ---- serialisation --------------------------------------------------------------------------
    def to_json(self) -> str:
        payload = {
            "format": MODEL_FORMAT,
            "lambda": self.lambda_,
            "tf_floor": self.tf_floor,
            "method": self.method,
            "info": self.info,
            "comparisons": [
                {
                    "name": c.name,
                    "labels": c.labels,
                    "m": [float(x) for x in c.m],
                    "u": [float(x) for x in c.u],
                    "tf": [
                        {"level": int(k), "column": col}
                        for k, col in sorted(c.tf_levels.items())
                    ],
                }
                for c in self.comparisons
            ],
        }
        return json.dumps(payload, sort_keys=True, indent=1)

    @classmethod
    def from_json(cls, text: str) -> FSModel:
        try:
            d = json.loads(text)
            if d.get("format") != MODEL_FORMAT:
                raise LinkageError("model: unknown model format")
            comps = [
                ComparisonParams(
                    name=c["name"], labels=list(c["labels"]), m=np.asarray(c["m"], float),
                    u=np.asarray(c["u"], float),
                    tf_levels={int(t["level"]): t["column"] for t in c["tf"]},
                )
                for c in d["comparisons"]
            ]
            return cls(comparisons=comps, lambda_=float(d["lambda"]), tf_floor=float(d["tf_floor"]),
                       method=d.get("method", "rules"), info=d.get("info", {}))
        except (KeyError, TypeError, ValueError) as exc:
            raise LinkageError(f"model: malformed model JSON ({type(exc).__name__})") from None

    def save(self, path: str | os.PathLike) -> None:
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(self.to_json())

    @classmethod
    def load(cls, path: str | os.PathLike) -> FSModel:
        try:
            with open(path, encoding="utf-8") as fh:
                return cls.from_json(fh.read())
        except OSError as exc:
            raise LinkageError(f"{path}: cannot read model ({type(exc).__name__})") from None


def level_labels(spec: ComparisonSpec) -> list[str]:
    """The labels of a comparison's levels (each level's type's default unless it has its own), then ``else``."""
    return [LEVEL_TYPES[lv.type].label(lv) for lv in spec.levels] + ["else"]


def tf_levels(spec: ComparisonSpec) -> dict[int, str]:
    """Levels with a term-frequency adjustment -> the column whose value frequencies adjust them (the
    frequencies themselves come from the scored records, :mod:`pace_linkage.engine.score`). Only a level
    type comparing one value (exact, swapped) may be adjusted."""
    levels = {}
    for i, lv in enumerate(spec.levels):
        if not lv.tf:
            continue
        if not LEVEL_TYPES[lv.type].term_frequency:
            raise LinkageError(f"model: comparison '{spec.name}' level {i}: tf is only allowed on exact and "
                               "swapped levels")
        levels[i] = lv.column or spec.column
    return levels


def check_compatible(model: FSModel, settings: LinkageSettings) -> None:
    """A reloaded model can score only comparisons with the same names and number of levels."""
    want = [(c.name, len(c.levels) + 1) for c in settings.comparisons]
    have = [(c.name, c.n_levels) for c in model.comparisons]
    if want != have:
        raise LinkageError("model: the saved model's comparisons (names/levels) differ from linkage.comparisons")

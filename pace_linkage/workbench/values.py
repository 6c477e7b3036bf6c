"""Record values for the workbench: the run folder holds none (privacy), so they come from the extracts.

Rules:

* The extracts are read and normalised once, at start, as the pipeline does (:func:`pace_linkage.pipeline.
  read_sources`, called by the command) with the given config; the values shown are the *normalised* ones the comparisons saw, as the
  clerical review's sheet shows them (:mod:`pace_linkage.evaluate.review`): each comparison's field, then the
  configured fields no comparison uses (:func:`pace_linkage.evaluate.review.context_columns`).
* A config whose hash is not the run's gives a value-free warning (:func:`pace_linkage.evaluate.review.
  check_config_matches`), shown beside the values; every record of the run must be in the extracts, else the
  workbench does not start (one line, a count, no key).
* Values are kept in memory and shown in the workbench's answers only; they are never logged nor written.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from pace_linkage.config import PaceConfig
from pace_linkage.errors import InputError
from pace_linkage.evaluate import review
from pace_linkage.evaluate.runfolder import RunData, key_strings
from pace_linkage.schema import RECORD_ID, SOURCE

NOT_LOADED = "values not loaded: start the workbench with --extracts (and the run's --config) to see them"


@dataclass
class RecordValues:
    """Normalised values per run record (position = row of the run's records), by field."""

    fields: dict[str, np.ndarray]  # field -> object array, None where the record has no value
    compared: dict[str, str]  # comparison name -> the field it compares
    context: list[str]  # the other configured fields, in config order
    warning: str | None  # the config-hash warning, when the config is not the run's

    def value(self, column: str, position: int) -> str | None:
        values = self.fields.get(column)
        return None if values is None else values[position]


def record_values(run: RunData, records: pd.DataFrame, cfg: PaceConfig) -> RecordValues:
    """The run's records' normalised values from ``records`` (the extracts read and normalised with ``cfg`` as
    the pipeline reads them: :func:`pace_linkage.pipeline.read_sources`)."""
    warning = None
    if review.check_config_matches(cfg, run):
        warning = (f"{run.path / 'manifest.json'}: config_hash differs from the given config; values are shown as the "
                   "given config normalises them (pass the --config the run used)")
    index = pd.Index(key_strings(records[SOURCE], records[RECORD_ID]))
    at = index.get_indexer(key_strings(run.records[SOURCE], run.records[RECORD_ID]))
    lost = int((at < 0).sum())
    if lost:
        raise InputError(f"extracts: {lost} of the run's records are not in them; pass the extracts the run linked")
    compared = {c.name: c.column for c in cfg.linkage.comparisons if c.column in records.columns}
    context = review.context_columns(cfg, records)
    fields = {}
    for col in dict.fromkeys([*compared.values(), *context]):
        values = records[col].astype(object)
        fields[col] = values.where(values.notna(), None).to_numpy()[at]
    return RecordValues(fields, compared, context, warning)


def pair_values(values: RecordValues | None, left: int, right: int) -> dict:
    """What a waterfall adds about a pair's values: per comparison its field's values on both sides, and the
    context fields; or a note that no values are loaded."""
    if values is None:
        return {"values_loaded": False, "values_note": NOT_LOADED}
    by_comparison = {name: {"field": col, "left": values.value(col, left), "right": values.value(col, right)}
                     for name, col in values.compared.items()}
    context = [{"field": col, "left": values.value(col, left), "right": values.value(col, right)}
               for col in values.context]
    return {"values_loaded": True, "values_note": values.warning, "compared": by_comparison, "context": context}


__all__ = ["NOT_LOADED", "RecordValues", "pair_values", "record_values"]

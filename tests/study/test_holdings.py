"""What each partner holds: data items per partner and their completeness among accepted rows."""

from __future__ import annotations

import pandas as pd
import pytest
from conftest import write

from pace_linkage.config import SourceConfig, load_config
from pace_linkage.errors import ConfigError
from pace_linkage.ingest.sources import ingest_source, normalise_source
from pace_linkage.pipeline import DEFAULT_FEATURES
from pace_linkage.study.holdings import STUDY_ITEMS, build_holdings, default_items, non_blank, source_holdings

CONFIG = """
fields:
  surname: {kind: name}
  dob: {kind: dob}
identifying_fields: [surname, dob]
sources:
  items:
    - name: p
      file: p.csv
      record_id: id
      columns: {surname: Surname, dob: DOB}
      formats: {dob: "%d/%m/%Y"}
      items:
        name: [Surname]
        consent: [Consent]
        outcome: [Outcome, Result]
        services: [Services]
linkage:
  blocking: [{name: s, on: [surname]}]
  comparisons: [{name: surname, column: surname, levels: [{type: exact}]}]
"""


def test_blank_cells_and_nothing_recorded_tokens_are_not_values():
    s = pd.Series(["Y", "", "  ", "NULL", "n/a", "Unknown", None, "N", "0"])
    assert non_blank(s).tolist() == [True, False, False, False, False, False, False, True, True]


def test_completeness_counts_accepted_rows_with_a_value_in_any_of_the_items_columns():
    frame = pd.DataFrame({"line": [2, 3, 4, 5], "Outcome": ["Work", "", "", "NULL"], "Result": ["", "Training", "", ""],
                          "Consent": ["Y", "N", "", "Y"]}).set_index("line")
    h = source_holdings(frame, ["Outcome", "Result", "Consent"], {"outcome": ["Outcome", "Result"],
                                                                  "consent": ["Consent"]},
                        pd.Series([2, 3, 4]), where="p.yaml", file="p.csv")  # line 5 was quarantined
    assert h == {"rows": 3, "items": {"outcome": 2, "consent": 2}, "warnings": []}


def test_an_item_column_missing_from_the_file_is_reported_not_held_with_a_value_free_warning():
    frame = pd.DataFrame({"line": [2, 3], "Outcome": ["Secret Value", ""]}).set_index("line")
    h = source_holdings(frame, ["Outcome"], {"consent": ["Consent"], "outcome": ["Outcome", "Result"]},
                        pd.Series([2, 3]), where="p.yaml", file="p.csv")
    assert h["items"] == {"consent": None, "outcome": 1}
    assert h["warnings"] == [
        "p.yaml: items.consent: column 'Consent' not found in p.csv; not held",
        "p.yaml: items.outcome: column 'Result' not found in p.csv; judged on its other columns"]
    assert not any("Secret" in w for w in h["warnings"])


def test_every_partner_lists_every_study_item_in_the_same_order_with_null_when_not_held():
    doc = build_holdings({
        "b": {"rows": 4, "items": {"consent": 3, "name": 4, "union": 2}, "warnings": ["w1"]},
        "a": {"rows": 0, "items": {"name": 0}, "warnings": []},
        "failed": None})
    assert list(doc["holdings"]) == ["a", "b"]
    items = list(doc["holdings"]["a"])
    assert items == list(doc["holdings"]["b"]) == [*STUDY_ITEMS, "union"]
    assert doc["holdings"]["b"]["consent"] == 0.75 and doc["holdings"]["b"]["nino"] is None
    assert doc["holdings"]["a"]["name"] == 0.0 and doc["holdings"]["a"]["union"] is None
    assert [d["item"] for d in doc["holdings_items"]] == items
    assert doc["holdings_items"][-1]["category"] == "other"
    assert doc["holdings_rows"] == {"a": 0, "b": 4} and doc["holdings_warnings"] == ["w1"]


def test_a_partner_without_items_falls_back_to_the_items_its_linkage_columns_imply():
    src = SourceConfig(name="x", file="x.csv", record_id="id",
                       columns={"first_name": "Fn", "surname": "Sn", "nino": "NI", "client_id": "SCN"})
    assert default_items(src) == {"name": ["Fn", "Sn"], "nino": ["NI"], "scn": ["SCN"]}


@pytest.mark.parametrize("items, message", [({"Consent": ["C"]}, "lower-case"), ({"consent": []}, "one or more")])
def test_badly_written_items_are_config_errors_naming_the_key(tmp_path, items, message):
    text = CONFIG.replace("        name: [Surname]\n", "").replace(
        "        consent: [Consent]\n        outcome: [Outcome, Result]\n        services: [Services]\n",
        "".join(f"        {k}: {v}\n" for k, v in items.items()))
    with pytest.raises(ConfigError) as err:
        load_config(write(tmp_path / "pace.yaml", text))
    assert "sources.items.0.items" in str(err.value) and message in str(err.value)


def test_holdings_are_measured_at_ingest_and_a_missing_item_column_never_fails_the_source(tmp_path):
    cfg = load_config(write(tmp_path / "pace.yaml", CONFIG))
    write(tmp_path / "ex" / "p.csv", "id,Surname,DOB,Consent,Outcome\n"
                                     "1,Smith,01/02/1980,Y,Work\n"
                                     "2,Jones,03/04/1990,,\n"
                                     "3,,,Y,Work\n")  # row 3: no identifying field -> quarantined
    src = cfg.sources.items[0]
    batch = normalise_source(ingest_source(src, cfg, tmp_path / "ex", features=DEFAULT_FEATURES), src, cfg,
                             features=DEFAULT_FEATURES)
    holdings = batch.extras["holdings"]
    assert batch.rows_accepted == 2 and batch.rows_quarantined == 1
    assert holdings["rows"] == 2
    assert holdings["items"] == {"name": 2, "consent": 1, "outcome": 1, "services": None}
    assert holdings["warnings"] == [
        f"{tmp_path / 'pace.yaml'}: items.outcome: column 'Result' not found in p.csv; judged on its other columns",
        f"{tmp_path / 'pace.yaml'}: items.services: column 'Services' not found in p.csv; not held"]
    assert batch.extract is None  # the raw frame is not kept past normalisation


def test_every_shipped_partner_config_lists_items_that_are_study_items():
    cfg = load_config()
    assert len(cfg.sources.items) == 10
    for src in cfg.sources.items:
        assert src.items, src.name
        assert set(src.items) <= set(STUDY_ITEMS), src.name

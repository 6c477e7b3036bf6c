"""A flow run records plain parameter values (paths as text, numbers, flags) without FastAPI's encoder: the
same values Prefect's general serializer records, without importing FastAPI (~0.3-0.5 s) in every command."""

import sys
from enum import StrEnum
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from flows.api import plain_parameters
from flows.pipeline import pace_linkage_pipeline, pipeline_on
from flows.scenarios import pace_linkage_scenarios

PLAIN = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=20))
PARAMS = st.dictionaries(st.text(min_size=1, max_size=10), PLAIN, max_size=8)


class Colour(StrEnum):
    red = "red"


FLOW = plain_parameters(pace_linkage_pipeline.with_options())


@settings(max_examples=60, deadline=None)
@given(params=PARAMS)
def test_plain_values_are_recorded_exactly_as_prefect_records_them(params):
    flow = FLOW
    general = type(flow).serialize_parameters(flow, params)
    assert flow.serialize_parameters(params) == general
    assert [type(v) for v in flow.serialize_parameters(params).values()] == [type(v) for v in general.values()]


def test_plain_values_never_reach_fastapi(monkeypatch):
    monkeypatch.setitem(sys.modules, "fastapi.encoders", None)  # an import of it would now fail
    params = {"extracts": "in", "out": "out", "threshold": 0.9, "run_id": None, "allow_partial": True, "n": 3}
    for flow in (pipeline_on("local"), pace_linkage_scenarios):
        assert flow.serialize_parameters(params) == params


def test_other_values_go_through_prefects_serializer():
    flow = FLOW
    params = {"out": Path("out"), "colour": Colour.red, "items": [1, "a"]}
    assert flow.serialize_parameters(params) == type(flow).serialize_parameters(flow, params)
    assert flow.serialize_parameters(params) == {"out": "out", "colour": "red", "items": [1, "a"]}

"""Flow parameters are paths, numbers and enum names only: nothing a frame or record could ride in."""

from __future__ import annotations

import json
import typing

import pandas as pd
import pytest
from pydantic import BaseModel

PLAIN = (str, int, float, bool, type(None))


def leaf_types(annotation) -> set:
    """Every concrete type an annotation admits (unions, Optionals and Literals unpacked)."""
    origin = typing.get_origin(annotation)
    if origin is typing.Literal:
        return {type(v) for v in typing.get_args(annotation)}
    if origin is not None:
        return set().union(*(leaf_types(a) for a in typing.get_args(annotation)))
    return {annotation}


def test_run_params_fields_are_paths_numbers_and_enum_names_only():
    from flows.pipeline import RunParams

    for name, field in RunParams.model_fields.items():
        types = leaf_types(field.annotation)
        assert types <= set(PLAIN), f"{name}: {types}"
        assert not any(isinstance(t, type) and issubclass(t, (pd.DataFrame, pd.Series, BaseModel, dict, list))
                       for t in types), name


def test_run_params_json_schema_is_under_4_kb():
    from flows.pipeline import RunParams

    assert len(json.dumps(RunParams.model_json_schema())) < 4096


def test_the_flow_signature_matches_run_params_and_admits_no_frame():
    from flows.pipeline import RunParams, pace_linkage_pipeline

    schema = pace_linkage_pipeline.parameters.model_dump()
    assert set(schema["properties"]) == set(RunParams.model_fields) - {"task_runner"}
    assert len(json.dumps(schema)) < 4096
    for name, prop in schema["properties"].items():
        kinds = {p.get("type") for p in prop.get("anyOf", [prop])}
        assert kinds <= {"string", "number", "integer", "boolean", "null"}, name


def test_run_params_refuse_a_frame_smuggled_in_as_a_parameter():
    from pydantic import ValidationError

    from flows.pipeline import RunParams

    with pytest.raises(ValidationError):
        RunParams(extracts=pd.DataFrame({"nino": ["JG103759A"]}), out="out")
    with pytest.raises(ValidationError):
        RunParams(extracts="x", out="out", records=[{"nino": "JG103759A"}])

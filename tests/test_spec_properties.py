"""Property: whatever is wrong in a spec file, loading it raises SpecError naming the field, never another exception."""

from __future__ import annotations

import copy
import tempfile
import types
import typing
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from spec_helpers import write_spec
from synth_assets.spec import PipelineSpec, SpecError, load_spec

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
WORKDIR = Path(tempfile.mkdtemp(prefix="spec-properties-"))
BASE: dict[str, Any] = yaml.safe_load(write_spec(WORKDIR).read_text())


def _kind(annotation: Any) -> tuple[str, type[BaseModel] | None]:
    """'model', 'mapping', 'sequence' or 'scalar', plus the model class for models and lists of models."""
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        return _kind(args[0]) if len(args) == 1 else ("scalar", None)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "model", annotation
    if origin is dict:
        return "mapping", None
    if origin in (list, tuple):
        inner = args[0] if args else None
        return "sequence", inner if isinstance(inner, type) and issubclass(inner, BaseModel) else None
    return "scalar", None


def _walk(model: type[BaseModel], prefix: tuple = ()) -> tuple[list[tuple[tuple, str, bool]], dict[tuple, type[BaseModel]]]:
    """Every field as (path, kind, required), and the model at every mapping position, descending into
    nested models and the first item of lists of models."""
    fields, models = [], {prefix: model}
    for name, info in model.model_fields.items():
        path = (*prefix, name)
        kind, inner = _kind(info.annotation)
        fields.append((path, kind, info.is_required()))
        if inner is not None:
            more_fields, more_models = _walk(inner, path if kind == "model" else (*path, 0))
            fields += more_fields
            models.update(more_models)
    return fields, models


FIELDS, MODELS = _walk(PipelineSpec)
SMALL = st.integers(-3, 3)
WRONG = {
    "scalar": st.lists(SMALL, max_size=3) | st.dictionaries(st.text(max_size=4), SMALL, max_size=2),
    "sequence": st.dictionaries(st.text(max_size=4), SMALL, max_size=2) | SMALL | st.booleans(),
    "model": st.lists(SMALL, max_size=3) | SMALL | st.text(max_size=8),
    "mapping": st.lists(SMALL, max_size=3) | SMALL | st.text(max_size=8),
}


def _dotted(path: tuple) -> str:
    return ".".join(str(p) for p in path)


def _at(spec: dict, path: tuple) -> Any:
    """The container holding path's last part, creating empty sections a default left out."""
    node = spec
    for part in path[:-1]:
        if isinstance(node, dict):
            node = node.setdefault(part, {})
        else:
            node = node[part]
    return node


def _load_error(spec: Any) -> str:
    path = WORKDIR / "mutated.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    try:
        load_spec(path)
    except SpecError as exc:
        return str(exc)
    raise AssertionError(f"spec loaded although it is invalid: {spec}")


@st.composite
def wrong_type(draw) -> tuple[str, dict]:
    path, kind, _ = draw(st.sampled_from(FIELDS))
    spec = copy.deepcopy(BASE)
    _at(spec, path)[path[-1]] = draw(WRONG[kind])
    return _dotted(path), spec


@SETTINGS
@given(wrong_type())
def test_a_wrongly_typed_field_is_named(case: tuple[str, dict]) -> None:
    field, spec = case
    assert f"\n  {field}" in _load_error(spec)


@SETTINGS
@given(st.sampled_from(sorted(MODELS, key=str)), st.from_regex(r"[a-z][a-z0-9_]{0,12}", fullmatch=True))
def test_an_unknown_key_is_named(where: tuple, key: str) -> None:
    spec = copy.deepcopy(BASE)
    section = _at(spec, (*where, key))
    if key in MODELS[where].model_fields:
        return  # a real field, not an unknown key
    section[key] = 1
    msg = _load_error(spec)
    assert f"{_dotted((*where, key))}: Extra inputs are not permitted" in msg


def _exists(spec: Any, path: tuple) -> bool:
    for part in path:
        if isinstance(spec, dict) and part in spec or isinstance(spec, list) and isinstance(part, int) and part < len(spec):
            spec = spec[part]
        else:
            return False
    return True


@SETTINGS
@given(st.sampled_from([p for p, _, required in FIELDS if required and _exists(BASE, p)]))
def test_a_missing_required_field_is_named(path: tuple) -> None:
    spec = copy.deepcopy(BASE)
    del _at(spec, path)[path[-1]]
    assert f"{_dotted(path)}: Field required" in _load_error(spec)


@SETTINGS
@given(st.binary(max_size=200) | st.text(max_size=200).map(str.encode))
def test_arbitrary_file_content_is_a_spec_error(content: bytes) -> None:
    path = WORKDIR / "garbage.yaml"
    path.write_bytes(content)
    try:
        load_spec(path)
    except SpecError as exc:
        assert str(path) in str(exc)

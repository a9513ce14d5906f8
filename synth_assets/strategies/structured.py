"""Structured replies: strategies that declare a pydantic response schema get their output validated,
and a reply that fails validation is asked for once more with the validation error fed back."""

from __future__ import annotations

import json
import re
from typing import Annotated, TypeVar

from pydantic import AfterValidator, BaseModel, Field, ValidationError

from synth_assets.inference.base import GenerationRequest

M = TypeVar("M", bound=BaseModel)
_OBJECT = re.compile(r"\{.*\}", re.S)
_PLACEHOLDER = re.compile(r"^\s*<[^<>]*>\s*$")


def _not_placeholder(value: str) -> str:
    # small models echo the prompt's '<the new text>' back as valid JSON: that is no content
    if _PLACEHOLDER.match(value):
        raise ValueError("is the prompt's placeholder, not content")
    return value


# a JSON string field that must hold real text
Content = Annotated[str, Field(min_length=1), AfterValidator(_not_placeholder)]


def parse_json_reply(text: str | None, schema: type[M]) -> tuple[M | None, str | None]:
    """The reply's JSON object validated against `schema`, or the reason it is not one."""
    if not text or not text.strip():
        return None, "empty reply"
    match = _OBJECT.search(text)  # models often wrap JSON in prose or code fences
    if match is None:
        return None, "no JSON object in the reply"
    try:
        return schema.model_validate(json.loads(match.group(0))), None
    except json.JSONDecodeError as exc:
        return None, f"invalid JSON: {exc.msg}"
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "(object)"
        return None, f"schema: {field}: {first['msg']}"


def retry_request(request: GenerationRequest, failed_text: str | None, error: str, schema: type[BaseModel]) -> GenerationRequest:
    """The same conversation plus the bad reply and a correction: a new prompt, so a new cache key."""
    correction = (
        f"That reply was not usable ({error}). Reply with one JSON object only, matching this JSON schema:\n"
        f"{json.dumps(schema.model_json_schema(), sort_keys=True)}"
    )
    messages = request.messages + (("assistant", failed_text or ""), ("user", correction))
    return GenerationRequest(messages=messages, params=request.params, choices=request.choices)

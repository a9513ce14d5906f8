"""Every teacher setting a spec gives reaches the backend the resource builds: none is dropped on the way."""

from __future__ import annotations

import inspect

import pytest

from synth_assets.inference.resources import RESOURCES, TeacherResource, resource_for
from synth_assets.spec_sections import BACKEND_SETTINGS, TeacherSpec


@pytest.mark.parametrize("backend", sorted(RESOURCES))
def test_every_spec_setting_the_backend_takes_is_a_resource_field(backend):
    accepted = set(inspect.signature(RESOURCES[backend].backend_class()).parameters)
    dropped = sorted((set(TeacherSpec.model_fields) & accepted) - set(RESOURCES[backend].model_fields))
    assert not dropped, f"spec teacher settings {dropped} never reach the {backend} backend"


@pytest.mark.parametrize("backend", sorted(RESOURCES))
def test_the_settings_a_spec_checks_per_backend_are_that_resources_own(backend):
    # a spec refuses another backend's settings by BACKEND_SETTINGS: it must name exactly the spec
    # settings this backend's resource declares beyond those every teacher has
    own = (set(RESOURCES[backend].model_fields) - set(TeacherResource.model_fields)) & set(TeacherSpec.model_fields)
    assert set(BACKEND_SETTINGS[backend]) == own


def test_the_transformers_dtype_of_a_spec_reaches_the_backend():
    spec = TeacherSpec(backend="transformers", model="embedded:smollm2-135m-instruct", dtype="bfloat16", batch_size=4)
    backend = resource_for(spec.backend, spec.model_dump()).get_backend()
    assert (backend.dtype, backend.batch_size) == ("bfloat16", 4)

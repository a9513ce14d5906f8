"""Teachers as Dagster resources: the spec picks the class, tests and the UI can swap it.

A resource's fields are the spec's teacher settings that Dagster shows and lets a run override;
they are copied from the spec section and passed to the backend's constructor by name, so a
setting is declared on the spec and on the resource, and nowhere else. Assets never use a
resource's parts: they ask it for a `TeacherSession` (backend, cache, batching, budget).
"""

from __future__ import annotations

import inspect
from typing import Any, ClassVar

from dagster import ConfigurableResource
from pydantic import PrivateAttr

from synth_assets.inference.base import TeacherBackend
from synth_assets.inference.budget import Budget
from synth_assets.inference.cache import TeacherCache
from synth_assets.inference.session import TeacherSession


class TeacherResource(ConfigurableResource):
    """Common fields of every teacher; the backend is built lazily from the fields, once per process."""

    model: str
    batch_size: int = 16
    backend_path: ClassVar[str] = ""  # module:Class of the backend, imported only when first used (torch, vllm)
    keep_backend: ClassVar[bool] = True  # in-process engines load weights once; HTTP clients are cheap to rebuild
    _backend: Any = PrivateAttr(default=None)

    @classmethod
    def backend_class(cls) -> type:
        """The backend class `backend_path` names, imported now (torch, vllm: only when first needed)."""
        if not cls.backend_path:
            raise NotImplementedError(f"{cls.__name__} names no backend class")
        module, name = cls.backend_path.split(":")
        return getattr(__import__(module, fromlist=[name]), name)

    def get_backend(self) -> TeacherBackend:
        """The engine, constructed from the fields its constructor names."""
        if self._backend is not None:
            return self._backend
        cls = self.backend_class()
        accepted = inspect.signature(cls).parameters
        backend = cls(**{k: getattr(self, k) for k in type(self).model_fields if k in accepted})
        if self.keep_backend:
            self._backend = backend
        return backend

    def session(self, cache: TeacherCache, budget: Budget) -> TeacherSession:
        """This teacher for one run: its backend behind the cache, batched as configured, within `budget`."""
        return TeacherSession(self.get_backend(), cache, self.batch_size, budget)


class TransformersTeacher(TeacherResource):
    """The embedded default: a Hugging Face causal LM on CPU or GPU."""

    device: str = "auto"
    dtype: str = "auto"
    backend_path: ClassVar[str] = "synth_assets.inference.transformers_backend:TransformersBackend"


class VLLMTeacher(TeacherResource):
    """vLLM's offline engine on GPUs (tensor parallel); needs `pip install 'synth[vllm]'`."""

    tensor_parallel_size: int = 1
    dtype: str = "auto"
    gpu_memory_utilization: float = 0.9
    max_model_len: int | None = None
    backend_path: ClassVar[str] = "synth_assets.inference.vllm_backend:VLLMBackend"


class OpenAITeacher(TeacherResource):
    """Any OpenAI-compatible server or pool of them (vLLM serve, llama.cpp server, hosted APIs)."""

    base_urls: list[str]
    api_key_env: str | None = None  # the name of the variable, never the key itself
    concurrency: int = 8
    timeout_s: float = 60.0
    backend_path: ClassVar[str] = "synth_assets.inference.openai_backend:OpenAIBackend"
    keep_backend: ClassVar[bool] = False


class FakeTeacher(TeacherResource):
    """For unit tests only: deterministic outputs, optional call log and injected failures."""

    model: str = "fake"
    call_log: str | None = None
    fail_marker: str | None = None
    delay_s: float = 0.0  # per batch, to stand in for a slow engine in crash and concurrency tests
    backend_path: ClassVar[str] = "synth_assets.inference.fake_backend:FakeBackend"
    keep_backend: ClassVar[bool] = False


RESOURCES: dict[str, type[TeacherResource]] = {
    "transformers": TransformersTeacher, "vllm": VLLMTeacher, "openai": OpenAITeacher, "fake": FakeTeacher,
}


def resource_for(backend: str, settings: dict[str, Any]) -> TeacherResource:
    """The resource for a spec's teacher section (`settings`: its fields), keeping those the resource declares."""
    cls = RESOURCES[backend]
    return cls(**{k: v for k, v in settings.items() if k in cls.model_fields})

"""Teachers as Dagster resources: the spec picks the class, tests and the UI can swap it."""

from __future__ import annotations

from typing import Any

from dagster import ConfigurableResource
from pydantic import PrivateAttr

from synth_assets.inference.base import TeacherBackend


class TeacherResource(ConfigurableResource):
    """Common fields of every teacher; subclasses build the backend lazily, once per process."""

    model: str
    batch_size: int = 16

    def get_backend(self) -> TeacherBackend:
        raise NotImplementedError(f"{type(self).__name__} does not implement get_backend()")


class TransformersTeacher(TeacherResource):
    """The embedded default: a Hugging Face causal LM on CPU or GPU."""

    device: str = "auto"
    _backend: Any = PrivateAttr(default=None)

    def get_backend(self) -> TeacherBackend:
        if self._backend is None:
            from synth_assets.inference.transformers_backend import TransformersBackend

            self._backend = TransformersBackend(model=self.model, batch_size=self.batch_size, device=self.device)
        return self._backend


class VLLMTeacher(TeacherResource):
    """vLLM's offline engine on GPUs (tensor parallel); needs `pip install 'synth[vllm]'`."""

    tensor_parallel_size: int = 1
    dtype: str = "auto"
    gpu_memory_utilization: float = 0.9
    max_model_len: int | None = None
    _backend: Any = PrivateAttr(default=None)

    def get_backend(self) -> TeacherBackend:
        if self._backend is None:
            from synth_assets.inference.vllm_backend import VLLMBackend

            self._backend = VLLMBackend(model=self.model, tensor_parallel_size=self.tensor_parallel_size, dtype=self.dtype,
                                        gpu_memory_utilization=self.gpu_memory_utilization, max_model_len=self.max_model_len)
        return self._backend


class OpenAITeacher(TeacherResource):
    """Any OpenAI-compatible server or pool of them (vLLM serve, llama.cpp server, hosted APIs)."""

    base_urls: list[str]
    api_key_env: str | None = None  # the name of the variable, never the key itself
    concurrency: int = 8
    timeout_s: float = 60.0

    def get_backend(self) -> TeacherBackend:
        from synth_assets.inference.openai_backend import OpenAIBackend

        return OpenAIBackend(model=self.model, base_urls=list(self.base_urls), api_key_env=self.api_key_env,
                             concurrency=self.concurrency, timeout_s=self.timeout_s)


class FakeTeacher(TeacherResource):
    """For unit tests only: deterministic outputs, optional call log and injected failures."""

    model: str = "fake"
    call_log: str | None = None
    fail_marker: str | None = None
    delay_s: float = 0.0  # per batch, to stand in for a slow engine in crash and concurrency tests

    def get_backend(self) -> TeacherBackend:
        from synth_assets.inference.fake_backend import FakeBackend

        return FakeBackend(model=self.model, call_log=self.call_log, fail_marker=self.fail_marker, delay_s=self.delay_s)

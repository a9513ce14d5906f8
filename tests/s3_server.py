"""A real S3-compatible server on loopback (moto in server mode), started and stopped by the tests themselves.

Nothing of boto or s3fs is patched: the code under test talks HTTP to this server exactly as it
would to AWS, configured only by the standard environment variables.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from loopback import free_port

BUCKET = "synth-test"
# credentials of the loopback server: distinctive, so a test can prove they were written nowhere
ACCESS_KEY = "AKIASYNTHTEST0000001"
SECRET_KEY = "synth-loopback-secret-7f3c9a1e5b"


@dataclass(frozen=True)
class S3Server:
    endpoint: str

    def env(self, state_dir: Path) -> dict[str, str]:
        """What a user exports to point synth at this server: the standard AWS variables, plus synth's state folder."""
        return {"AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY, "AWS_DEFAULT_REGION": "us-east-1",
                "AWS_ENDPOINT_URL": self.endpoint, "SYNTH_STATE_DIR": str(state_dir)}


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    server = S3Server(f"http://127.0.0.1:{port}")
    deadline = time.time() + 60
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                break
        except OSError:
            assert proc.poll() is None, "moto server exited at start"
            assert time.time() < deadline, "moto server did not listen within 60 s"
            time.sleep(0.1)
    try:
        yield server
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.fixture
def s3_env(s3_server: S3Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """This process and its children pointed at the loopback server, with a bucket of their own and a fresh state folder."""
    env = s3_server.env(tmp_path / "state")
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    import s3fs

    s3fs.S3FileSystem.clear_instance_cache()
    fs = s3fs.S3FileSystem()
    if not fs.exists(BUCKET):
        fs.mkdir(BUCKET)
    return env


def s3_prefix() -> str:
    """A warehouse URL of its own for one test, in the shared bucket."""
    return f"s3://{BUCKET}/{uuid.uuid4().hex[:10]}"


def s3_keys(url: str) -> list[str]:
    """Every object under a URL, relative to it."""
    import s3fs

    fs = s3fs.S3FileSystem(use_listings_cache=False)
    base = url.removeprefix("s3://")
    return sorted(k[len(base) + 1:] for k in fs.find(base))


def files_holding(folder: Path, text: str) -> list[Path]:
    """The files under `folder` whose bytes contain `text`."""
    needle = text.encode()
    return [p for p in folder.rglob("*") if p.is_file() and needle in p.read_bytes()] if folder.exists() else []

"""A real Postgres on loopback from Debian's `postgresql` binaries, in a temp folder, started and stopped by the tests.

initdb refuses to run as root, so as root the cluster belongs to the `postgres` system user the
Debian package creates. Without the binaries the fixture skips, saying what to install.
"""

from __future__ import annotations

import getpass
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from loopback import free_port

PG_BIN_DIRS = sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)


@dataclass(frozen=True)
class Postgres:
    port: int
    user: str

    def env(self) -> dict[str, str]:
        """The variables deploy/dagster-postgres.yaml reads (trust auth on loopback: the password is unused)."""
        return {"DAGSTER_PG_HOST": "127.0.0.1", "DAGSTER_PG_PORT": str(self.port), "DAGSTER_PG_USERNAME": self.user,
                "DAGSTER_PG_PASSWORD": "unused-on-trust", "DAGSTER_PG_DB": "dagster"}


def _binary(name: str) -> str | None:
    for folder in PG_BIN_DIRS:
        if (folder / name).is_file():
            return str(folder / name)
    return shutil.which(name)


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    initdb, pg_ctl, createdb = _binary("initdb"), _binary("pg_ctl"), _binary("createdb")
    if not (initdb and pg_ctl and createdb):
        pytest.skip("no Postgres server binaries (initdb, pg_ctl): apt-get install postgresql")
    as_root = os.geteuid() == 0
    user = "postgres" if as_root else getpass.getuser()
    prefix = ["runuser", "-u", "postgres", "--"] if as_root else []
    folder = Path(tempfile.mkdtemp(prefix="synth-pg-"))
    if as_root:
        shutil.chown(folder, user="postgres")
    data, port = folder / "data", free_port()
    subprocess.run([*prefix, initdb, "-D", str(data), "-U", user, "--auth=trust", "-E", "UTF8"], check=True,
                   capture_output=True)
    options = f"-c listen_addresses=127.0.0.1 -p {port} -k {folder} -c fsync=off"
    subprocess.run([*prefix, pg_ctl, "-D", str(data), "-o", options, "-l", str(folder / "log"), "-w", "start"],
                   check=True, capture_output=True)
    try:
        deadline = time.time() + 30
        while subprocess.run([*prefix, createdb, "-h", "127.0.0.1", "-p", str(port), "-U", user, "dagster"],
                             capture_output=True).returncode != 0:
            assert time.time() < deadline, (folder / "log").read_text()[-2000:]
            time.sleep(0.2)
        yield Postgres(port, user)
    finally:
        subprocess.run([*prefix, pg_ctl, "-D", str(data), "-m", "immediate", "stop"], capture_output=True)
        shutil.rmtree(folder, ignore_errors=True)

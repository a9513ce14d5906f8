"""Does a table's file still hold the table its materialisation recorded? What staleness checks.

A run records the file's size and mtime next to the table's content hash (its data version).
Checking a file costs one `stat` while both are as recorded; only a file whose size or mtime
moved (copied, touched, rewritten, truncated) is read and hashed, so `synth status` stays cheap
on big tables and a touched file with the same content stays fresh.
"""

from __future__ import annotations

import os

import polars as pl

from synth_assets.hashing import frame_hash
from synth_assets.storage.location import Location, is_remote, source

TABLE_PATH = "path"  # the materialisation metadata entry naming the table's file
FILE_FACTS = "file"  # and the one holding file_facts() of it as written


def file_facts(path: Location) -> dict[str, int | str]:
    """Size and mtime of a file as just written (an object's size and ETag): while both are unchanged, so is the file."""
    if is_remote(path):
        info = path.fs.info(path.path)
        return {"bytes": int(info["size"]), "etag": str(info.get("ETag") or info.get("etag") or "")}
    st = os.stat(path)
    return {"bytes": st.st_size, "mtime_ns": st.st_mtime_ns}


def file_problem(path: Location, data_version: str | None, facts: dict | None = None) -> str | None:
    """Why `path` no longer holds the table whose content hash is `data_version` (None: it does)."""
    if not path.is_file():
        return f"file missing ({path})"
    if facts:
        now = file_facts(path)
        if now == {k: facts.get(k) for k in now}:
            return None
    try:
        df = pl.read_parquet(source(path))
    # a malformed file can make the Rust reader panic, which is not an Exception
    except (pl.exceptions.PolarsError, pl.exceptions.PanicException, OSError) as exc:
        return f"file unreadable ({path}: {first_line(exc)})"
    if data_version is not None and frame_hash(df) != data_version:
        return f"file changed outside synth ({path})"
    return None


def first_line(exc: BaseException) -> str:
    """The first line of an error's message (polars and DuckDB add context lines below it)."""
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__

"""Atomic Parquet IO: a reader never sees a half-written table, a crash never leaves one.

On a local folder: a temp file, fsync, rename. On an object store: the file is built in memory and
uploaded in one request, and an object becomes visible only once its upload completes, so the
key holds the old table or the new one. A temp key plus a copy would only upload it twice.
"""

from __future__ import annotations

import io
import os

import polars as pl

from synth_assets.storage.location import Location, is_remote, put_object, source
from synth_assets.storage.temp_files import temp_file


def table_path(root: Location, key: list[str], partition: str | None = None) -> Location:
    """warehouse/<pipeline>/<table>.parquet, or .../<table>/<partition>.parquet when partitioned."""
    *folders, name = key
    base = root.joinpath(*folders)
    return base / name / f"{partition}.parquet" if partition else base / f"{name}.parquet"


def write_parquet_atomic(df: pl.DataFrame, path: Location) -> Location:
    """Write to a temp file in the same folder, fsync, then rename over the target (mode from the umask)."""
    if is_remote(path):
        buf = io.BytesIO()
        df.write_parquet(buf, compression="zstd", statistics=True)
        put_object(path, buf.getvalue())
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = temp_file(path.parent, f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as fh:
            df.write_parquet(fh, compression="zstd", statistics=True)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def read_table(path: Location) -> pl.DataFrame:
    """Read a table written by write_parquet_atomic, naming the file when it is missing."""
    if not path.exists():
        raise FileNotFoundError(f"table {path} does not exist yet: materialise its asset first")
    return pl.read_parquet(source(path))

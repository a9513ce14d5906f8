"""Where the warehouse lives: a local (or NFS) folder, or a prefix on an object store, through fsspec.

`SYNTH_WAREHOUSE=s3://bucket/prefix` (or `--warehouse s3://…`) keeps every table, the teacher
cache and the checkpoints as objects under that prefix (universal_pathlib's `UPath`, s3fs below it;
polars and DuckDB read the same `s3://` URLs natively). Credentials come from the standard AWS
environment variables or profiles (`AWS_ACCESS_KEY_ID`, `AWS_PROFILE`, `AWS_ENDPOINT_URL`, ...) and
are never written anywhere: DuckDB gets an in-memory secret for the life of one connection.

What an object store cannot hold lives in a local state folder per warehouse URL
(`SYNTH_STATE_DIR`, default `~/.cache/synth/warehouses/<scheme>/<bucket>/<prefix>`): the DuckDB
catalog file (DuckDB writes databases on local disks only), the cache's fold and compaction locks
(file locks; step leases on S3 are objects in the bucket, `object_lease.py`), and a local copy of
each checkpoint a student is loaded from. For a local warehouse the state folder is the
warehouse itself, as it always was.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path
from typing import Union
from urllib.parse import urlparse

from upath import UPath

WAREHOUSE_ENV = "SYNTH_WAREHOUSE"
STATE_ENV = "SYNTH_STATE_DIR"
_URL = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")
Location = Union[Path, UPath]  # a local folder or file, or an object under an fsspec URL


def is_url(value: str | os.PathLike) -> bool:
    """Whether a warehouse setting names an fsspec URL (s3://, gs://, memory://) rather than a folder."""
    text = str(value)
    return bool(_URL.match(text)) and not text.startswith("file://")


def warehouse_location(value: str | os.PathLike | None = None) -> Location:
    """The warehouse root from a setting (None: $SYNTH_WAREHOUSE, else ./warehouse): a resolved folder or a URL."""
    if value is None or str(value) == "":
        value = os.environ.get(WAREHOUSE_ENV) or Path.cwd() / "warehouse"
    if isinstance(value, UPath):
        return value
    text = str(value)
    if is_url(text):
        return _upath(text.rstrip("/"))
    return Path(text.removeprefix("file://")).expanduser().resolve()


def location(value: str | os.PathLike) -> Location:
    """A file or folder recorded as text (a table's path in run metadata, a checkpoint's path) as a Location."""
    return value if isinstance(value, UPath) else _upath(str(value)) if is_url(value) else Path(value)


def _upath(url: str) -> UPath:
    # listings are never cached: other processes add and remove cache files and tables all the time
    return UPath(url, use_listings_cache=False)


def children(folder: Location) -> list[tuple[Location, bool]]:
    """A folder's entries and whether each is a folder, in name order: one listing request on an object store."""
    if not is_remote(folder):
        return sorted(((p, p.is_dir()) for p in folder.iterdir()), key=lambda e: e[0].name) if folder.is_dir() else []
    try:
        listed = folder.fs.ls(folder.path, detail=True)
    except FileNotFoundError:
        return []
    out = [(folder / Path(e["name"]).name, e["type"] == "directory") for e in listed if e["name"].rstrip("/") != folder.path]
    return sorted(out, key=lambda e: e[0].name)


def is_remote(path: Location) -> bool:
    return isinstance(path, UPath) and path.protocol not in ("", "file", "local")


S3_SCHEMES = ("s3", "s3a")


def is_s3(path: Location) -> bool:
    """An s3:// (or s3a://) location: what DuckDB's httpfs reads and what holds bucket leases."""
    return is_remote(path) and path.protocol in S3_SCHEMES


def state_dir(root: Location) -> Path:
    """The local folder for what an object store cannot hold (catalog file, locks, loaded checkpoints)."""
    if not is_remote(root):
        return Path(root)
    base = Path(os.environ.get(STATE_ENV) or Path.home() / ".cache" / "synth" / "warehouses")
    url = urlparse(str(root))
    parts = [re.sub(r"[^\w.-]", "_", p) for p in [url.scheme, url.netloc, *url.path.split("/")] if p]
    # two URLs that differ only in characters the folder names cannot hold stay apart
    return base.joinpath(*parts) / hashlib.sha256(str(root).encode()).hexdigest()[:8]


def source(path: Location) -> str | Path:
    """What polars and DuckDB take for a path: the URL of an object, the path of a local file."""
    return str(path) if is_remote(path) else path


def parquet_file(path: Location):
    """A Parquet file's reader (footer first, then batches on demand), local or on the object store."""
    import pyarrow.parquet as pq

    return pq.ParquetFile(path.open("rb") if is_remote(path) else path)


def parquet_rows(path: Location) -> int:
    """A Parquet file's row count from its footer alone."""
    return parquet_file(path).metadata.num_rows


def missing_file(exc: BaseException) -> bool:
    """Whether an error means a file or object that was listed is gone (polars reports a missing object as OSError)."""
    return isinstance(exc, FileNotFoundError) or (isinstance(exc, OSError) and "not found" in str(exc).lower())


def put_object(path: Location, data: bytes) -> None:
    """Publish `data` at an object key in one upload: the object appears whole or not at all, never half-written."""
    path.fs.pipe_file(path.path, data)

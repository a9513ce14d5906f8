"""The one hashing helper of the project: cache keys, row ids and data versions all come from here."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from typing import Any

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # only the frame hashes need polars; backends import this module on machines without it
    import polars as pl


# what json.dumps(value, sort_keys=True, ...) builds on every call, built once: the same text, without the
# per-call construction that was a third of the time of the four hashes every expansions row takes
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def canonical_json(value: Any) -> str:
    """Serialise so equal values always give equal text (sorted keys, no whitespace drift)."""
    return _CANONICAL.encode(value)


def stable_hash(*parts: Any, length: int = 16) -> str:
    """Hex digest that identifies the given parts across processes, machines and versions."""
    digest = hashlib.sha256(canonical_json(list(parts)).encode("utf-8")).hexdigest()
    return digest[:length]


# Tables up to this many rows hash as they always have (their sorted CSV lines, in memory), so the data
# versions and checkpoint keys of existing warehouses stay put; larger ones hash in bounded memory.
FRAME_HASH_ROWS = 200_000
_HASH_SLICE = 50_000


def frame_hash(df: pl.DataFrame) -> str:
    """Content hash of a table, independent of row order, used as its Dagster data version."""
    return slices_hash(df.schema, df.height, [df])


def slices_hash(schema: pl.Schema, height: int, slices: Iterable[pl.DataFrame]) -> str:
    """frame_hash of the table whose rows are `slices` (of any sizes, in any order) stacked: the same hash
    as the one frame, for a table that is never in memory whole (storage/parquet.py: TableParts)."""
    import polars as pl

    columns = sorted(schema)
    if height == 0:
        return stable_hash("empty", columns, length=32)
    nested = [name for name in columns if schema[name].is_nested()]

    def rendered(part: pl.DataFrame) -> pl.DataFrame:
        part = part.select(columns)
        if nested:  # CSV has no lists or structs: such a column is hashed as its JSON text (flat tables hash as before)
            part = part.with_columns(pl.struct(name).struct.json_encode().alias(name) for name in nested)
        return part

    h = hashlib.sha256(canonical_json(columns).encode())
    if height <= FRAME_HASH_ROWS:
        # CSV text is a deterministic rendering of the values; sorting rows makes the hash order-free.
        text = pl.concat([rendered(part) for part in slices], rechunk=False).write_csv(include_header=False)
        for line in sorted(text.splitlines()):
            h.update(line.encode("utf-8"))
            h.update(b"\n")
        return h.hexdigest()[:32]
    # A large table: a digest of each line of its CSV text, a slice of rows at a time, then the sorted digests,
    # so the memory is one slice's text plus 16 bytes a row, not the whole table's text and its sorted copy
    digests: list[bytes] = []
    for part in slices:
        for lo in range(0, part.height, _HASH_SLICE):
            text = rendered(part.slice(lo, _HASH_SLICE)).write_csv(include_header=False)
            digests += [hashlib.blake2b(line.encode("utf-8"), digest_size=16).digest() for line in text.splitlines()]
    digests.sort()
    h.update(b"sorted line digests:")  # a scheme of its own: never equal to a small table's hash
    h.update(b"".join(digests))
    return h.hexdigest()[:32]


def file_hash(path: str) -> str:
    """sha256 of a file's bytes, streamed, for observing seed files."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:32]

"""The one hashing helper of the project: cache keys, row ids and data versions all come from here."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # only frame_hash needs polars; backends import this module on machines without it
    import polars as pl


def canonical_json(value: Any) -> str:
    """Serialise so equal values always give equal text (sorted keys, no whitespace drift)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


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
    if df.height == 0:
        return stable_hash("empty", sorted(df.columns), length=32)
    ordered = df.select(sorted(df.columns))
    nested = [name for name, dtype in ordered.schema.items() if dtype.is_nested()]
    if nested:  # CSV has no lists or structs: such a column is hashed as its JSON text (flat tables hash as before)
        import polars as pl

        ordered = ordered.with_columns(pl.struct(name).struct.json_encode().alias(name) for name in nested)
    h = hashlib.sha256(canonical_json(ordered.columns).encode())
    if ordered.height <= FRAME_HASH_ROWS:
        # CSV text is a deterministic rendering of the values; sorting rows makes the hash order-free.
        for line in sorted(ordered.write_csv(include_header=False).splitlines()):
            h.update(line.encode("utf-8"))
            h.update(b"\n")
        return h.hexdigest()[:32]
    # A large table: a digest of each line of its CSV text, a slice of rows at a time, then the sorted digests,
    # so the memory is one slice's text plus 16 bytes a row, not the whole table's text and its sorted copy
    digests: list[bytes] = []
    for offset in range(0, ordered.height, _HASH_SLICE):
        text = ordered.slice(offset, _HASH_SLICE).write_csv(include_header=False)
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

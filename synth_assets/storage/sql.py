"""Quoting for SQL text: every identifier and string literal synth puts into DuckDB SQL goes through here.

Values DuckDB can bind (`?` parameters) are bound instead; these are for what SQL cannot bind:
schema, table and view names, and the file paths a view reads.
"""

from __future__ import annotations

from pathlib import PurePath


def quote_ident(name: str) -> str:
    """A name as a SQL identifier whatever it holds (a folder called `wh "q"`): double quotes doubled."""
    return '"' + name.replace('"', '""') + '"'


def quote_literal(value: str | PurePath) -> str:
    """A string or path as a SQL string literal (a folder called `it's`): single quotes doubled."""
    return "'" + str(value).replace("'", "''") + "'"


def qualified(schema: str, name: str) -> str:
    """`schema.name` with both parts quoted: how every catalog table and view is named in SQL."""
    return f"{quote_ident(schema)}.{quote_ident(name)}"

"""Temp files and folders for atomic writes, created so the final mode follows the umask.

`tempfile.mkstemp` and `mkdtemp` make 0600 files and 0700 folders, right for a shared /tmp but
wrong once renamed into a warehouse that a team shares: everyone but the writer is locked out.
These create the same exclusive, unguessable names with the modes any other new file gets
(0666 and 0777 less the umask: 0644/0755 under umask 022, 0664/0775 under 002).
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

_ATTEMPTS = 100


def temp_file(folder: Path, prefix: str, suffix: str = ".tmp") -> tuple[int, Path]:
    """A new file in `folder` created exclusively, and its open descriptor: the caller writes, then renames it."""
    flags = os.O_RDWR | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)
    for _ in range(_ATTEMPTS):
        path = Path(folder) / f"{prefix}{secrets.token_hex(6)}{suffix}"
        try:
            return os.open(path, flags, 0o666), path
        except FileExistsError:
            continue
    raise FileExistsError(f"no unused temp file name in {folder} after {_ATTEMPTS} tries")


def temp_dir(folder: Path, prefix: str) -> Path:
    """A new folder in `folder`, created exclusively: the caller fills it, then renames it."""
    for _ in range(_ATTEMPTS):
        path = Path(folder) / f"{prefix}{secrets.token_hex(6)}"
        try:
            path.mkdir(mode=0o777)
            return path
        except FileExistsError:
            continue
    raise FileExistsError(f"no unused temp folder name in {folder} after {_ATTEMPTS} tries")

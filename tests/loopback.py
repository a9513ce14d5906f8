"""What the tests' loopback servers share: a port to listen on."""

from __future__ import annotations

import socket


def free_port() -> int:
    """A loopback port nobody listens on now (the server binds it a moment later)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])

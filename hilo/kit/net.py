"""Sockets hilo binds itself."""

from __future__ import annotations

import socket


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening socket whose accepted connections get TCP_NODELAY.

    uvicorn's own multi-worker socket has protocol 0, so asyncio never sets
    TCP_NODELAY on its connections and every keep-alive response waits ~40 ms for
    Nagle (see DESIGN.md). Binding with IPPROTO_TCP avoids that.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind((host, port))
    sock.set_inheritable(True)
    return sock

"""The browser tests' live server: a browser dropping a file download leaves no file open."""

from __future__ import annotations

import gc
import socket
import struct
import sys
import time
from pathlib import Path
from typing import Any

from flask import Flask
from werkzeug.serving import WSGIRequestHandler

from tests.browser import LiveServer

STATIC = Path(__file__).resolve().parent.parent / "static"


def drop_mid_request(port: int, attempt: int) -> None:
    """Ask for a static file and reset the connection as a navigating browser does: at once or a
    moment later, with or without a request body the server is still draining."""
    connection = socket.create_connection(("127.0.0.1", port))
    body = b"x" * 1000 * (attempt % 2)
    connection.sendall(b"GET /static/favicon.svg HTTP/1.1\r\nHost: localhost\r\n"
                       b"Content-Length: 100000\r\n\r\n" + body)
    time.sleep((attempt % 3) * 0.002)
    connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    connection.close()


def test_a_dropped_connection_leaves_no_file_open(monkeypatch) -> None:
    dropped: list[str] = []
    unraisable: list[str] = []
    monkeypatch.setattr(WSGIRequestHandler, "connection_dropped",
                        lambda handler, error, environ=None: dropped.append(type(error).__name__))
    monkeypatch.setattr(sys, "unraisablehook", lambda report: unraisable.append(repr(report.exc_value)))
    app = Flask(__name__, static_folder=str(STATIC))

    with LiveServer(app) as server:
        for attempt in range(30):
            drop_mid_request(server.server.server_port, attempt)
        time.sleep(0.3)
    gc.collect()

    assert dropped, "no connection was dropped while the server handled it"
    assert unraisable == []

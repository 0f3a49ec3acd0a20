"""The driver of the POST scenarios: each broadcast is a form POST to the server under test.

The server's own view saves the message (for the limit, publishes it) in the
process that holds the sockets, and answers 303, which is not followed. Every
system gets the same poster, run by the harness's Python (stdlib only), over
one HTTP/1.1 keep-alive connection::

    python .../bench/poster.py http://127.0.0.1:<port>/messages/

The command loop is :mod:`bench.driveloop`, shared with the other drivers.
"""

from __future__ import annotations

import http.client
import select
import socket
import sys
from pathlib import Path
from urllib.parse import urlencode, urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.driveloop import body, serve

HEADERS = {"Content-Type": "application/x-www-form-urlencoded"}
#: What a server does to a keep-alive connection it has let idle too long.
DROPPED = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError)


class Poster:
    """POSTs ``text=seq=<n>;t0=<t>`` to one URL over a connection kept alive."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        if parts.hostname is None or parts.port is None:
            raise ValueError(f"expected http://host:port/path, got {url!r}")
        self.host, self.port, self.path = parts.hostname, parts.port, parts.path or "/"
        self.connection: http.client.HTTPConnection | None = None

    def post(self, seq: int, t0: float) -> None:
        data = urlencode({"text": body(seq, t0)})
        try:
            status = self.request(self.connected(), data)
        except DROPPED:
            # The server closed the idle connection between our check and the
            # request: servers close keep-alive connections only between requests,
            # so it never read this one, and sending it again saves it once.
            self.close()
            status = self.request(self.connected(), data)
        if status != 303:
            raise RuntimeError(f"POST {self.path}: expected 303, got {status}")

    def request(self, connection: http.client.HTTPConnection, data: str) -> int:
        connection.request("POST", self.path, data, HEADERS)
        response = connection.getresponse()
        # Read to the end, or the connection cannot carry the next request.
        response.read()
        return response.status

    def connected(self) -> http.client.HTTPConnection:
        """The open connection, or a new one if the server has closed it (uvicorn
        closes a keep-alive connection idle for 5 s: between scenarios, say)."""
        if self.connection is not None and open_socket(self.connection.sock):
            return self.connection
        self.close()
        self.connection = http.client.HTTPConnection(self.host, self.port, timeout=60)
        self.connection.connect()
        return self.connection

    def close(self) -> None:
        if self.connection is not None:
            self.connection.close()
            self.connection = None


def open_socket(sock: socket.socket | None) -> bool:
    """Whether ``sock`` is connected and not closed by its peer, without blocking."""
    if sock is None:
        return False
    readable, _, _ = select.select([sock], [], [], 0)
    if not readable:
        return True
    # Readable with no request in flight: the peer closed (an empty read) or reset.
    try:
        return bool(sock.recv(1, socket.MSG_PEEK))
    except OSError:
        return False


def main() -> None:
    poster = Poster(sys.argv[1])
    try:
        serve(poster.post)
    finally:
        poster.close()


if __name__ == "__main__":
    main()

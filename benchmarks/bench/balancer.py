"""The load balancer of the scale scenario: Debian's haproxy or nginx, configured by the harness.

Both listen on one port of 127.0.0.1 and spread websockets over the server
processes' ports by least connections (round robin would do as well at the
start; after a server dies, every socket it held reconnects to the other),
with timeouts long enough for idle websockets, room for every socket twice
(the client's side and the server's) and, when a server refuses a connection
(it was killed), another try on the other: the reconnects of a dead server's
pages must not fail on it. Each runs in the foreground, as a
:class:`bench.procs.Server` (its log is its stderr).

A process may hold at most the hard limit of open files (20,000 on the box the
README's figures come from, which the harness cannot raise without
CAP_SYS_RESOURCE), and a balancer holds two per socket. nginx runs one worker
per core (two), each accepting its share of the sockets (``reuseport``), so it
holds 10,000 sockets under that limit; haproxy is one process (threads share
its descriptors), so it holds at most half the limit's sockets.
"""

from __future__ import annotations

import os
import resource
import shutil
from typing import TYPE_CHECKING

from bench.system import Process

if TYPE_CHECKING:
    from pathlib import Path

KINDS = ("nginx", "haproxy")
#: The descriptors a process of the balancer may hold: two per socket.
MAX_FILES = min(resource.getrlimit(resource.RLIMIT_NOFILE)[1], 1 << 20)
#: nginx's workers: one per core, as its documentation advises.
WORKERS = os.cpu_count() or 1
#: Idle websockets stay open this long (the servers' pings keep them busy anyway).
IDLE_TIMEOUT = "1h"


def haproxy_config(port: int, backends: list[int]) -> str:
    servers = "\n".join(
        # check: a connect every second; a server is out after three failures
        # (one could be a busy server's full accept queue).
        f"    server s{index} 127.0.0.1:{backend} check inter 1s fall 3 rise 1"
        for index, backend in enumerate(backends)
    )
    return f"""\
global
    maxconn {MAX_FILES // 2 - 100}
    nbthread {WORKERS}

defaults
    mode http
    maxconn {MAX_FILES // 2 - 100}
    option redispatch 1
    retries 3
    timeout connect 30s
    timeout client {IDLE_TIMEOUT}
    timeout server {IDLE_TIMEOUT}
    timeout tunnel {IDLE_TIMEOUT}
    timeout http-request 30s

frontend websockets
    bind 127.0.0.1:{port}
    default_backend servers

backend servers
    balance leastconn
{servers}
"""


def nginx_config(port: int, backends: list[int], directory: Path) -> str:
    servers = "\n".join(
        # max_fails=0: never taken out. A dead server refuses at once, and the
        # next is tried; a busy one (a full accept queue: a connect timed out)
        # may be the only one left, and must not be taken out.
        f"        server 127.0.0.1:{backend} max_fails=0;"
        for backend in backends
    )
    temp = "\n".join(
        f"    {kind}_temp_path {directory / (kind + '_temp')};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    return f"""\
daemon off;
worker_processes {WORKERS};
worker_rlimit_nofile {MAX_FILES};
pid {directory / "nginx.pid"};
error_log stderr warn;

events {{
    worker_connections {MAX_FILES - 1000};
}}

http {{
    access_log off;
{temp}
    upstream servers {{
        # Shared by the workers: least_conn counts every worker's sockets.
        zone servers 256k;
        least_conn;
{servers}
    }}
    server {{
        # reuseport: a listening socket per worker, the kernel spreads the sockets.
        listen 127.0.0.1:{port} backlog=4096 reuseport;
        location / {{
            proxy_pass http://servers;
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection "upgrade";
            proxy_set_header Host $http_host;
            proxy_next_upstream error timeout;
            # A full accept queue drops SYNs: the kernel retries at 1, 3, 7, 15 s.
            proxy_connect_timeout 30s;
            proxy_read_timeout {IDLE_TIMEOUT};
            proxy_send_timeout {IDLE_TIMEOUT};
        }}
    }}
}}
"""


def balancer(kind: str, port: int, backends: list[int], directory: Path) -> Process:
    """Write ``kind``'s configuration under ``directory``; the command running it."""
    directory.mkdir(parents=True, exist_ok=True)
    if kind == "haproxy":
        config = directory / "haproxy.cfg"
        config.write_text(haproxy_config(port, backends))
        # -db: stay in the foreground, logging to stderr.
        return Process([binary(kind), "-db", "-f", str(config)], cwd=directory)
    if kind == "nginx":
        config = directory / "nginx.conf"
        config.write_text(nginx_config(port, backends, directory))
        # -e: errors before the configuration is read go there too, not /var/log.
        argv = [binary(kind), "-p", str(directory), "-e", "stderr", "-c", str(config)]
        return Process(argv, cwd=directory)
    raise ValueError(f"unknown balancer {kind!r} (known: {', '.join(KINDS)})")


def binary(kind: str) -> str:
    """The balancer's executable: on the PATH, or where Debian installs it."""
    found = shutil.which(kind) or shutil.which(kind, path="/usr/sbin:/sbin")
    if found is None:
        raise RuntimeError(f"{kind} is not installed (Debian: apt-get install {kind})")
    return found

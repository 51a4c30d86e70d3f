"""`serve_in_thread`: the sandbox app on a real loopback socket, for as long as a `with` block.

Tests that need real sockets (a dropped connection is only a transport error over TCP), the demo
and the benchmarks use it. The socket is bound before the server starts, so port 0 works and the
URL is known at once; only loopback addresses are accepted, since the sandbox must never be
reachable from outside the machine. Uvicorn runs without its logging configuration
(`log_config=None`), so that starting a sandbox changes nothing global in the calling process.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn

from ac_hygiene.sandbox.activecampaign.faults import DroppedConnection

START_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 10.0


class _QuietDrops(logging.Filter):
    """Injected connection drops are the point, not an error worth a traceback in the logs."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not isinstance(exc, DroppedConnection)


_QUIET = _QuietDrops()


def require_loopback(host: str) -> None:
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise ValueError(
            f"the sandbox binds loopback addresses only (127.0.0.0/8 or ::1), not {host!r}"
        )


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on a loopback address; OSError says if the port is taken.

    It listens at once, so that the URL can be printed before the server loop runs: a client that
    connects in between waits in the backlog instead of being refused.
    """
    require_loopback(host)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(2048)
    except OSError:
        sock.close()
        raise
    return sock


def make_server(app: Any, **config: Any) -> uvicorn.Server:
    logging.getLogger("uvicorn.error").addFilter(_QUIET)  # idempotent: the same filter object
    return uvicorn.Server(
        uvicorn.Config(app, log_config=None, access_log=False, lifespan="off", **config)
    )


@contextmanager
def serve_in_thread(app: Any, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """Run `app` under uvicorn in a daemon thread; yields `http://<host>:<port>`."""
    sock = bind(host, port)
    bound_port = sock.getsockname()[1]
    server = make_server(app)
    failure: list[BaseException] = []

    def run() -> None:
        try:
            asyncio.run(server.serve(sockets=[sock]))
        except BaseException as exc:  # reported to the caller below
            failure.append(exc)

    thread = threading.Thread(target=run, name=f"ac-sandbox-{bound_port}", daemon=True)
    thread.start()
    try:
        waited = 0.0
        while not server.started:
            if failure or not thread.is_alive():
                raise RuntimeError(f"the sandbox server did not start: {failure[:1]}")
            if waited > START_TIMEOUT_S:
                raise RuntimeError(f"the sandbox server did not start in {START_TIMEOUT_S} s")
            thread.join(0.01)
            waited += 0.01
        shown = f"[{host}]" if ":" in host else host
        yield f"http://{shown}:{bound_port}"
    finally:
        server.should_exit = True
        thread.join(STOP_TIMEOUT_S)
        sock.close()

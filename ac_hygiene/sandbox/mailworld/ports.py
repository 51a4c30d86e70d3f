"""Binding one port number on many loopback addresses at once.

Every SMTP host of a world listens on the same port (a verifier has one "SMTP port" setting), so
"port 0" cannot be left to the kernel address by address: we take the port the kernel gives the
first address and try it on all the others, starting over with a fresh port if one is taken.
"""

from __future__ import annotations

import errno
import socket
from collections.abc import Sequence

_ATTEMPTS = 64


class PortInUse(OSError):
    """A fixed port that is already taken on one of the addresses."""


def _bind(address: str, kind: int, port: int) -> socket.socket:
    # An explicit IPPROTO_TCP matters: asyncio only turns Nagle off (TCP_NODELAY) on accepted
    # sockets whose proto says TCP, and with Nagle on, a multi-line EHLO reply stalls 40 ms.
    proto = socket.IPPROTO_TCP if kind == socket.SOCK_STREAM else socket.IPPROTO_UDP
    sock = socket.socket(socket.AF_INET, kind, proto)
    try:
        if kind == socket.SOCK_STREAM:
            # Lets a restarted world reuse its port while old connections sit in TIME_WAIT. Not for
            # UDP, where it would let two servers share a port silently.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((address, port))
    except OSError as error:
        sock.close()
        if error.errno == errno.EADDRINUSE:
            raise
        # Name the endpoint: "Permission denied" alone does not say which port (below 1024?).
        raise OSError(error.errno, error.strerror, f"{address}:{port}") from error
    except BaseException:
        sock.close()
        raise
    return sock


def bind_same_port(
    endpoints: Sequence[tuple[str, int]], port: int
) -> tuple[int, list[socket.socket]]:
    """Bind every (address, SOCK_STREAM|SOCK_DGRAM) endpoint on one port; 0 picks a free one.

    Returns the port and the bound (not yet listening) sockets, in the order of `endpoints`.
    """
    if not endpoints:
        return port, []
    attempts = _ATTEMPTS if port == 0 else 1
    last_error: OSError | None = None
    failed_at = endpoints[0][0]
    for _ in range(attempts):
        sockets: list[socket.socket] = []
        try:
            failed_at, first_kind = endpoints[0]
            sockets.append(_bind(failed_at, first_kind, port))
            chosen = sockets[0].getsockname()[1]
            for failed_at, kind in endpoints[1:]:
                sockets.append(_bind(failed_at, kind, chosen))
            return chosen, sockets
        except OSError as error:
            for sock in sockets:
                sock.close()
            if error.errno != errno.EADDRINUSE:
                raise
            last_error = error
    if port:
        raise PortInUse(
            errno.EADDRINUSE,
            f"port {port} is already in use on {failed_at}; "
            "stop the other server or choose another port (0 picks a free one)",
        ) from last_error
    raise PortInUse(errno.EADDRINUSE, "no port was free on every address") from last_error

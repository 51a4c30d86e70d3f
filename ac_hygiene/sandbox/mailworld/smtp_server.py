"""The world's SMTP servers: one aiosmtpd server per mail host address, all on one port.

aiosmtpd speaks the protocol (EHLO, MAIL, RCPT, RSET, NOOP, VRFY, QUIT, SMTPUTF8); this module
only adds what a sandbox of real mail servers needs on top: the world's RCPT replies, a refused
DATA (the sandbox must never take a message), a per-reply latency, and traffic counters.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from typing import Any, AnyStr

from aiosmtpd.smtp import SMTP, Envelope, Session, syntax

from ac_hygiene.sandbox.mailworld.ports import bind_same_port
from ac_hygiene.sandbox.mailworld.recipients import CANNOT_VRFY, RecipientPolicy
from ac_hygiene.sandbox.mailworld.stats import MailWorldStats
from ac_hygiene.sandbox.mailworld.world import Listener, MailWorld

NO_DATA = "554 5.7.1 no data accepted in the sandbox"
_IDENT = "ESMTP sandbox"
# A verifier opens many connections at once to a provider's host; the asyncio default (100)
# would drop SYNs and turn a burst into one-second client retries that no real MX imposes.
_BACKLOG = 1024

# aiosmtpd logs every connection and command at INFO; a benchmark makes hundreds of thousands.
logging.getLogger("mail.log").setLevel(logging.WARNING)


class _Handler:
    """aiosmtpd hooks for one host: RCPT follows the world, VRFY never confirms (like Postfix)."""

    def __init__(self, listener: Listener, policy: RecipientPolicy, stats: MailWorldStats):
        self._listener = listener
        self._policy = policy
        self._stats = stats

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 2.1.0 OK"

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        assert isinstance(server, _SandboxSMTP)
        server.rcpt_count += 1
        self._stats.count_rcpt(self._listener.label)
        reply = self._policy.reply(
            self._listener, session.peer[0], address, server.rcpt_count, envelope.mail_from or ""
        )
        if reply.startswith("250"):
            envelope.rcpt_tos.append(address)
            envelope.rcpt_options.extend(options)
        return reply

    async def handle_VRFY(
        self, server: SMTP, session: Session, envelope: Envelope, address: str
    ) -> str:
        return CANNOT_VRFY


class _SandboxSMTP(SMTP):
    """aiosmtpd's SMTP with a reply latency, a refused DATA and connection bookkeeping."""

    def __init__(
        self,
        handler: _Handler,
        *,
        label: str,
        latency_s: float,
        stats: MailWorldStats,
        sessions: set[_SandboxSMTP],
        **kwargs: Any,
    ):
        super().__init__(handler, **kwargs)
        self.rcpt_count = 0
        self._label = label
        self._latency_s = latency_s
        self._stats = stats
        self._sessions = sessions

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self._sessions.add(self)
        self._stats.count_smtp_connection(self._label)

    def connection_lost(self, error: Exception | None) -> None:
        self._sessions.discard(self)
        super().connection_lost(error)

    async def push(self, status: AnyStr) -> None:
        # Delay once per reply (its last line: "250 HELP", not each "250-..." of EHLO), so a
        # latency reads as a round trip per command, as it does against a distant server.
        if self._latency_s > 0:
            # A multi-line reply given as one string ("550-...\r\n550 ...") is one round trip.
            last = status.splitlines()[-1] if status else status
            marker = last[3:4]
            if marker in ("", " ", b"", b" "):
                await asyncio.sleep(self._latency_s)
        await super().push(status)

    @syntax("DATA")
    async def smtp_DATA(self, arg: str) -> None:
        if await self.check_helo_needed():
            return
        assert self.envelope is not None
        if not self.envelope.rcpt_tos:
            await self.push("503 5.5.1 Error: need RCPT command")
            return
        await self.push(NO_DATA)

    def close_now(self) -> asyncio.Task | None:
        """Drop the connection (shutdown) and return the session task to wait for."""
        if self.transport is not None:
            self.transport.close()
        return self._handler_coroutine


class SmtpServers:
    """All SMTP servers of one world, started and stopped together."""

    def __init__(
        self,
        world: MailWorld,
        stats: MailWorldStats,
        *,
        latency_s: float = 0.0,
        policy: RecipientPolicy | None = None,
    ):
        self._world = world
        self._stats = stats
        self._latency_s = latency_s
        self._policy = policy or RecipientPolicy(world)
        self._servers: list[asyncio.Server] = []
        self._sessions: set[_SandboxSMTP] = set()
        self.port = 0

    async def start(self, port: int = 0) -> int:
        """Listen on every listener address with one port (0 picks one free on all of them)."""
        listeners = self._world.listeners
        self.port, sockets = bind_same_port(
            [(listener.address, socket.SOCK_STREAM) for listener in listeners], port
        )
        loop = asyncio.get_running_loop()
        try:
            for listener, sock in zip(listeners, sockets, strict=True):
                self._servers.append(
                    await loop.create_server(
                        self._factory(listener, loop), sock=sock, backlog=_BACKLOG
                    )
                )
        except BaseException:
            for sock in sockets:
                sock.close()
            await self.stop()
            raise
        return self.port

    def _factory(self, listener: Listener, loop: asyncio.AbstractEventLoop):
        handler = _Handler(listener, self._policy, self._stats)
        latency_s = self._latency_s + listener.latency_s

        def make() -> _SandboxSMTP:
            return _SandboxSMTP(
                handler,
                label=listener.label,
                latency_s=latency_s,
                stats=self._stats,
                sessions=self._sessions,
                hostname=listener.names[0],
                ident=_IDENT,
                enable_SMTPUTF8=True,
                loop=loop,
            )

        return make

    async def stop(self) -> None:
        """Stop listening, drop open sessions and wait for their tasks to end."""
        servers, self._servers = self._servers, []
        for server in servers:
            server.close()
        tasks = [task for session in list(self._sessions) if (task := session.close_now())]
        self._sessions.clear()
        for task in tasks:
            task.cancel()
        with contextlib.suppress(Exception):
            await asyncio.gather(*tasks, return_exceptions=True)
        for server in servers:
            await server.wait_closed()

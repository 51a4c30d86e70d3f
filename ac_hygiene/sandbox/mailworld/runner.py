"""Start and stop a whole mail world (DNS + SMTP) inside a loop or in a thread of its own.

Async code (the engine's tests) runs the world in its own event loop with `async with`; sync code
(the CLI, the demo, benchmarks, sync tests) uses `run_in_thread()`, which gives the servers a loop
in a background thread so a blocking client in the caller's thread cannot stall them.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from types import TracebackType

from ac_hygiene.sandbox.mailworld.dns_server import DnsServer
from ac_hygiene.sandbox.mailworld.smtp_server import SmtpServers
from ac_hygiene.sandbox.mailworld.stats import MailWorldStats
from ac_hygiene.sandbox.mailworld.world import MailWorld

_THREAD_START_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class RunningMailWorld:
    """Where a running world can be reached: what a verifier's settings must say."""

    world: MailWorld
    dns_host: str
    dns_port: int
    smtp_port: int
    stats: MailWorldStats
    host_addresses: Mapping[str, str]

    @property
    def smtp_addresses(self) -> dict[str, str]:
        """Listening SMTP server label -> address (hosts with nothing listening are absent)."""
        return {listener.label: listener.address for listener in self.world.listeners}


class MailWorldServer:
    """A world's DNS server and SMTP servers, on loopback only.

    `dns_port`/`smtp_port` 0 pick free ports (so two worlds in one test session never clash);
    `latency_s` is added to every DNS answer and every SMTP reply, to model a distant network.
    """

    def __init__(
        self,
        world: MailWorld,
        *,
        dns_port: int = 0,
        smtp_port: int = 0,
        latency_s: float = 0.0,
        dns_host: str = "127.0.0.1",
    ):
        if latency_s < 0:
            raise ValueError(f"latency_s must be >= 0, got {latency_s}")
        self.world = world
        self.stats = MailWorldStats()
        self._dns_host = dns_host
        self._dns_port = dns_port
        self._smtp_port = smtp_port
        self._dns = DnsServer(world, self.stats, latency_s=latency_s)
        self._smtp = SmtpServers(world, self.stats, latency_s=latency_s)
        self._running: RunningMailWorld | None = None

    async def start(self) -> RunningMailWorld:
        """Bind and serve; on any failure nothing is left bound."""
        if self._running is not None:
            raise RuntimeError("this mail world is already running")
        try:
            await self._dns.start(self._dns_host, self._dns_port)
            await self._smtp.start(self._smtp_port)
        except BaseException:
            await self.stop()
            raise
        self._running = RunningMailWorld(
            world=self.world,
            dns_host=self._dns.host,
            dns_port=self._dns.port,
            smtp_port=self._smtp.port,
            stats=self.stats,
            host_addresses=dict(self.world.hosts),
        )
        return self._running

    async def stop(self) -> None:
        """Close every socket and session; safe to call twice."""
        self._running = None
        await self._smtp.stop()
        await self._dns.stop()

    async def __aenter__(self) -> RunningMailWorld:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()

    @contextlib.contextmanager
    def run_in_thread(self) -> Iterator[RunningMailWorld]:
        """Serve from a background thread's event loop for the duration of the `with` block."""
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=loop.run_forever, name="mail-world", daemon=True)
        thread.start()
        try:
            future = asyncio.run_coroutine_threadsafe(self.start(), loop)
            running = future.result(timeout=_THREAD_START_TIMEOUT_S)
            try:
                yield running
            finally:
                asyncio.run_coroutine_threadsafe(self.stop(), loop).result(
                    timeout=_THREAD_START_TIMEOUT_S
                )
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join()
            loop.close()

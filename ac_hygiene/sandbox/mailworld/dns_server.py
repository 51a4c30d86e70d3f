"""An authoritative-and-recursive-looking DNS server for the mail world, on loopback.

It answers every name a verifier may ask about (MX, A, AAAA, TXT) straight from the world, and
NXDOMAIN for anything else, so the verifier needs no special code path: it is pointed at this
server with its ordinary nameserver and port settings. Each query is answered in its own task, so
a configured delay slows every answer without serializing them.
"""

from __future__ import annotations

import asyncio
import socket
from dataclasses import dataclass, field
from typing import cast

from dnslib import AAAA, EDNS0, MX, QTYPE, RCODE, RR, TXT, A, DNSError, DNSRecord

from ac_hygiene.sandbox.mailworld.ports import bind_same_port
from ac_hygiene.sandbox.mailworld.stats import MailWorldStats
from ac_hygiene.sandbox.mailworld.world import MailWorld

_TTL = 300
_UDP_PLAIN_LIMIT = 512  # RFC 1035 limit for clients that do not speak EDNS
_OUR_EDNS_PAYLOAD = 1232
_TCP_LIMIT = 65535


@dataclass
class _Node:
    """Everything the server knows about one name."""

    records: dict[int, list[RR]] = field(default_factory=dict)
    servfail: bool = False
    delay_s: float = 0.0
    exists: bool = True

    def add(self, name: str, qtype: int, rdata: object) -> None:
        self.records.setdefault(qtype, []).append(RR(name, qtype, rdata=rdata, ttl=_TTL))


def _txt_chunks(text: str) -> list[bytes]:
    """Split a TXT value into the <=255-byte character-strings DNS requires (long SPF records)."""
    data = text.encode("utf-8")
    return [data[i : i + 255] for i in range(0, len(data), 255)] or [b""]


def build_zone(world: MailWorld) -> dict[str, _Node]:
    """Precompute the answers for every name of the world (queries then cost a dict lookup)."""
    zone: dict[str, _Node] = {}
    for name, spec in world.domains.items():
        node = zone[name] = _Node(delay_s=spec.dns_delay_s)
        if spec.nxdomain:
            node.exists = False
            continue
        if spec.servfail:
            node.servfail = True
            continue
        if spec.null_mx:
            node.add(name, QTYPE.MX, MX(".", 0))
        for preference, host in spec.mx:
            node.add(name, QTYPE.MX, MX(host, preference))
        address = spec.a or world.hosts.get(name)
        if address:
            node.add(name, QTYPE.A, A(address))
        if spec.aaaa:
            node.add(name, QTYPE.AAAA, AAAA(spec.aaaa))
        for text in spec.txt:
            node.add(name, QTYPE.TXT, TXT(_txt_chunks(text)))
    for host, address in world.hosts.items():
        node = zone.setdefault(host, _Node())
        if node.exists and not node.servfail and QTYPE.A not in node.records:
            node.add(host, QTYPE.A, A(address))
    return zone


class DnsAnswerer:
    """Turns one wire-format query into one wire-format answer, following the world."""

    def __init__(self, world: MailWorld, stats: MailWorldStats, *, latency_s: float = 0.0):
        self._zone = build_zone(world)
        self._stats = stats
        self._latency_s = latency_s

    async def answer(self, wire: bytes, *, udp: bool) -> bytes | None:
        """The reply to send, or None for a packet that is not a DNS query at all."""
        try:
            request = DNSRecord.parse(wire)
        except (DNSError, IndexError, ValueError):
            return None
        if request.header.qr or not request.questions:
            return None
        question = request.q
        name = str(question.qname).rstrip(".").lower()
        self._stats.count_dns_query(name, QTYPE.get(question.qtype, str(question.qtype)))
        node = self._zone.get(name)
        delay = self._latency_s + (node.delay_s if node else 0.0)
        if delay > 0:
            await asyncio.sleep(delay)

        reply = request.reply()
        if request.header.opcode != 0:
            reply.header.rcode = RCODE.NOTIMP
        elif node is None or not node.exists:
            reply.header.rcode = RCODE.NXDOMAIN
        elif node.servfail:
            reply.header.rcode = RCODE.SERVFAIL
        elif question.qtype == QTYPE.ANY:
            for records in node.records.values():
                reply.rr.extend(records)
        else:
            reply.rr.extend(node.records.get(question.qtype, []))
            if question.qtype == QTYPE.MX:
                self._add_glue(reply)
        return self._fit(request, reply, udp=udp)

    def _add_glue(self, reply: DNSRecord) -> None:
        """Put the MX hosts' addresses in the additional section, as authoritative servers do.

        A resolver that reads them needs one query per domain instead of one more per MX host.
        Hosts the world gives no address (or marks as failing) get none, so the client still has
        to look them up and meets the failure there.
        """
        for rr in list(reply.rr):
            if rr.rtype != QTYPE.MX:
                continue
            host = str(rr.rdata.label).rstrip(".").lower()
            target = self._zone.get(host)
            if target is None or not target.exists or target.servfail or target.delay_s > 0:
                continue
            for record in target.records.get(QTYPE.A, []):
                reply.add_ar(record)

    @staticmethod
    def _fit(request: DNSRecord, reply: DNSRecord, *, udp: bool) -> bytes:
        """Pack the reply, truncating (TC bit) when it exceeds what the client accepts over UDP."""
        client_opt = next((rr for rr in request.ar if rr.rtype == QTYPE.OPT), None)
        if client_opt is not None:
            reply.add_ar(EDNS0(udp_len=_OUR_EDNS_PAYLOAD))
        limit = _TCP_LIMIT
        if udp:
            limit = max(_UDP_PLAIN_LIMIT, client_opt.rclass) if client_opt else _UDP_PLAIN_LIMIT
        packed = reply.pack()
        if len(packed) <= limit:
            return packed
        glue = [rr for rr in reply.ar if rr.rtype != QTYPE.OPT]
        if glue:  # glue is optional: drop it before resorting to truncation
            reply.ar = [rr for rr in reply.ar if rr.rtype == QTYPE.OPT]
            packed = reply.pack()
            if len(packed) <= limit:
                return packed
        truncated = request.reply()
        truncated.header.tc = 1
        truncated.header.rcode = reply.header.rcode
        if client_opt is not None:
            truncated.add_ar(EDNS0(udp_len=_OUR_EDNS_PAYLOAD))
        return truncated.pack()


class _UdpProtocol(asyncio.DatagramProtocol):
    def __init__(self, answerer: DnsAnswerer, tasks: set[asyncio.Task]):
        self._answerer = answerer
        self._tasks = tasks
        self._transport: asyncio.DatagramTransport | None = None
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(None)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        task = asyncio.ensure_future(self._respond(data, addr))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _respond(self, data: bytes, addr: tuple[str, int]) -> None:
        reply = await self._answerer.answer(data, udp=True)
        if reply is not None and self._transport is not None and not self._transport.is_closing():
            self._transport.sendto(reply, addr)


class DnsServer:
    """The world's DNS over UDP and TCP on one loopback address and port."""

    def __init__(self, world: MailWorld, stats: MailWorldStats, *, latency_s: float = 0.0):
        self._answerer = DnsAnswerer(world, stats, latency_s=latency_s)
        self._tasks: set[asyncio.Task] = set()
        self._udp: asyncio.DatagramTransport | None = None
        self._udp_protocol: _UdpProtocol | None = None
        self._tcp: asyncio.Server | None = None
        self.host = ""
        self.port = 0

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        """Bind UDP and TCP on the same port (0 picks a free one) and return it."""
        self.port, (udp_sock, tcp_sock) = bind_same_port(
            [(host, socket.SOCK_DGRAM), (host, socket.SOCK_STREAM)], port
        )
        self.host = host
        loop = asyncio.get_running_loop()
        try:
            transport, protocol = await loop.create_datagram_endpoint(
                lambda: _UdpProtocol(self._answerer, self._tasks), sock=udp_sock
            )
            self._udp, self._udp_protocol = transport, protocol
            self._tcp = await asyncio.start_server(self._serve_tcp, sock=tcp_sock, backlog=1024)
        except BaseException:
            udp_sock.close()
            tcp_sock.close()
            await self.stop()
            raise
        return self.port

    async def _serve_tcp(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        try:
            while True:
                length = int.from_bytes(await reader.readexactly(2), "big")
                reply = await self._answerer.answer(await reader.readexactly(length), udp=False)
                if reply is None:
                    break
                writer.write(len(reply).to_bytes(2, "big") + reply)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        except asyncio.CancelledError:
            # Only `stop` cancels this task. End it normally: asyncio's stream callback calls
            # `task.exception()`, which on a cancelled task logs a spurious "Exception in
            # callback ... CancelledError" for every TCP client still connected at shutdown.
            pass
        finally:
            writer.close()
            if task is not None:
                self._tasks.discard(task)

    async def stop(self) -> None:
        """Close both sockets and drop queries still waiting out their delay."""
        if self._udp is not None:
            self._udp.close()
            self._udp = None
        if self._udp_protocol is not None:
            # The transport lets go of its socket on the next loop turn; wait for it, so that
            # "stopped" means the port is free.
            await self._udp_protocol.closed
            self._udp_protocol = None
        tcp, self._tcp = self._tcp, None
        if tcp is not None:
            tcp.close()
        tasks = [task for task in self._tasks if task is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()
        if tcp is not None:
            await tcp.wait_closed()

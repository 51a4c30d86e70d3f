"""A test mail world covering every verdict, and tiny SMTP stand-ins for what it cannot do.

The mail world (real DNS + SMTP servers on loopback) answers for every behaviour a mail domain
has; more servers are started by the tests themselves on addresses the world's DNS points
at but serves nothing on: one that accepts and never speaks (timeouts), one that says 421 at the
greeting, one that accepts every recipient and offers PIPELINING (the backup MX of a failover
domain), one that answers RCPT with a reply no table knows, one whose greeting code is not in
ASCII digits, one that refuses RCPT naming the client's IP address without an enhanced code, and
one that greylists at the greeting. `stub_servers` yields a `StubLog` of what they saw.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from ac_hygiene.sandbox.mailworld import RunningMailWorld
from ac_hygiene.verification import VerificationSettings

SILENT_HOST = "127.0.3.1"
DEAD_PRIMARY = "127.0.3.2"  # failover.com's preferred MX: nothing listens
BACKUP_HOST = "127.0.3.3"  # failover.com's second MX: the accept-all stand-in
BUSY_HOST = "127.0.3.4"  # 421 at the greeting
ODD_HOST = "127.0.3.5"  # answers RCPT with a reply no table knows
GARBLED_HOST = "127.0.3.6"  # greets with "²²⁰": digits to str.isdigit(), not to int()
IP_BLOCK_HOST = "127.0.3.7"  # 550 on RCPT naming an IP that reads like an enhanced code
GREY_BANNER_HOST = "127.0.3.8"  # 450 greylisting at the greeting, for every connection


def world_data() -> dict[str, Any]:
    """Fresh data per call so that no test can leak an edit into another."""
    return {
        "hosts": {
            "mx1.acme.com": "127.0.0.11",
            "mx2.acme.com": "127.0.0.12",
            "mx.shared.net": "127.0.0.14",
            "mx-a.failover.com": DEAD_PRIMARY,
            "mx-b.failover.com": BACKUP_HOST,
            "mx.busy.com": BUSY_HOST,
            # Two tenants of one provider: their own MX names, one shared address.
            "tenant-a.mail.example.net": "127.0.0.17",
            "tenant-b.mail.example.net": "127.0.0.17",
        },
        "domains": {
            "acme.com": {
                "mx": [[20, "mx2.acme.com"], [10, "mx1.acme.com"]],
                "mailboxes": ["alice", "bob", "info", "sales-team"],
                "full_mailboxes": ["carol"],
                "mailbox_pattern": r"[a-z]+\.[a-z]+[0-9]*",
            },
            "gmail.com": {
                "mx": [[5, "gmail-smtp-in.l.google.com"]],
                "mailbox_pattern": r"[a-z]+\.[a-z]+[0-9]*",
            },
            "catchall.io": {"mx": [[10, "mx.catchall.io"]], "catch_all": True},
            "mailinator.com": {"mx": [[10, "mx.mailinator.com"]], "catch_all": True},
            # On the disposable list, and its DNS fails: must stay unknown, never "disposable".
            "yopmail.com": {"servfail": True},
            # On the disposable list, one slip from gmail.com, run by a squatter accepting all.
            "gmial.com": {"mx": [[10, "mx.gmial.com"]], "catch_all": True},
            "nullmx.org": {"null_mx": True},
            "aonly.net": {"a": "127.0.0.13", "mailboxes": ["dan"]},
            "gone.biz": {"nxdomain": True},
            "flaky-dns.com": {"servfail": True},
            "slow-dns.com": {"mx": [[10, "mx.slow.com"]], "catch_all": True, "dns_delay_s": 1.0},
            "nomail.org": {"txt": ["v=spf1 -all"]},
            "grey.net": {
                "mx": [[10, "mx.grey.net"]],
                "mailbox_pattern": r"[a-z]+",
                "greylist_seconds": 1,
            },
            "blocked.com": {"mx": [[10, "mx.blocked.com"]], "block": True},
            "down.com": {"mx": [[10, "mx.down.com"]]},
            "capped.com": {
                "mx": [[10, "mx.capped.com"]],
                "mailbox_pattern": r"user[0-9]+",
                "max_recipients": 3,
            },
            "bücher.de": {"mx": [[10, "mx.bücher.de"]], "mailboxes": ["jürgen"]},
            "shared-one.com": {"mx": [[10, "mx.shared.net"]], "mailbox_pattern": r"[a-z]+[0-9]*"},
            "shared-two.com": {"mx": [[10, "mx.shared.net"]], "mailbox_pattern": r"[a-z]+[0-9]*"},
            "tenant-a.com": {"mx": [[0, "tenant-a.mail.example.net"]], "mailboxes": ["ann"]},
            "tenant-b.com": {"mx": [[0, "tenant-b.mail.example.net"]], "mailboxes": ["ben"]},
            "silent.com": {"a": SILENT_HOST},
            "failover.com": {"mx": [[10, "mx-a.failover.com"], [20, "mx-b.failover.com"]]},
            "busy.com": {"mx": [[10, "mx.busy.com"]]},
            "odd.com": {"a": ODD_HOST},
            "garbled.com": {"a": GARBLED_HOST},
            "ipblock.com": {"a": IP_BLOCK_HOST},
            "greybanner.com": {"a": GREY_BANNER_HOST},
        },
    }


def settings_for(running: RunningMailWorld, **overrides: Any) -> VerificationSettings:
    """How a deployment points the engine at this world: its ordinary settings, nothing else."""
    options: dict[str, Any] = {
        "nameservers": [(running.dns_host, running.dns_port)],
        "smtp_port": running.smtp_port,
        "helo_name": "probe.example.net",
        "dns_timeout_s": 3.0,
        "smtp_connect_timeout_s": 3.0,
        "smtp_command_timeout_s": 3.0,
        "greylist_budget_s": 5.0,
        # Names this world has; the default canaries (gmail.com, outlook.com, yahoo.com) are
        # not all in it, and a missing canary rightly makes the whole batch dns_unreliable.
        "canaries": ("gmail.com", "acme.com"),
    }
    options.update(overrides)
    return VerificationSettings(**options)


@dataclass
class StubLog:
    """What the stand-ins saw, by host address: connection times, commands, closed connections."""

    connected: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    commands: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    closed: dict[str, int] = field(default_factory=lambda: defaultdict(int))


async def _stub_session(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    mode: str,
    host: str,
    log: StubLog,
) -> None:
    log.connected[host].append(time.monotonic())
    try:
        if mode == "silent":
            # accept, say nothing, until the client gives up (and closes: counted below)
            while line := await reader.readline():
                log.commands[host].append(line.decode("utf-8", "replace").strip().upper())
            log.closed[host] += 1
            return
        if mode == "busy":
            writer.write(b"421 4.3.2 Too busy, try another server\r\n")
            await writer.drain()
            return
        if mode == "grey-banner":
            writer.write(b"450 4.7.1 Greylisted, please try again later\r\n")
            await writer.drain()
            return
        if mode == "garbled":
            writer.write("²²⁰ stub ESMTP\r\n".encode())
            await writer.drain()
            return
        writer.write(b"220 stub ESMTP\r\n")
        while line := await reader.readline():
            command = line.decode("utf-8", "replace").strip().upper()
            log.commands[host].append(command)
            if command.startswith("EHLO"):
                extensions = b"250-PIPELINING\r\n" if mode == "accept" else b""
                writer.write(b"250-stub\r\n" + extensions + b"250 SMTPUTF8\r\n")
            elif command.startswith("QUIT"):
                writer.write(b"221 2.0.0 Bye\r\n")
                await writer.drain()
                return
            elif command.startswith("RCPT") and mode == "odd":
                writer.write(b"554 Transaction failed for reasons of its own\r\n")
            elif command.startswith("RCPT") and mode == "ip-block":
                writer.write(b"550 Client host [5.1.1.9] blocked using zen.spamhaus.org\r\n")
            else:
                writer.write(b"250 2.0.0 OK\r\n")
            await writer.drain()
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        writer.close()


@contextlib.asynccontextmanager
async def stub_servers(port: int) -> AsyncIterator[StubLog]:
    """The stand-ins, on the world's SMTP port at the addresses its DNS gives out."""
    servers = []
    log = StubLog()
    try:
        for host, mode in (
            (SILENT_HOST, "silent"),
            (BACKUP_HOST, "accept"),
            (BUSY_HOST, "busy"),
            (ODD_HOST, "odd"),
            (GARBLED_HOST, "garbled"),
            (IP_BLOCK_HOST, "ip-block"),
            (GREY_BANNER_HOST, "grey-banner"),
        ):
            servers.append(
                await asyncio.start_server(
                    lambda r, w, mode=mode, host=host: _stub_session(r, w, mode, host, log),
                    host,
                    port,
                )
            )
        yield log
    finally:
        for server in servers:
            server.close()
        for server in servers:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(server.wait_closed(), 2)

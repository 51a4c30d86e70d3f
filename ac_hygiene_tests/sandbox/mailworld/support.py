"""A small test world covering every behaviour, and clients that talk to it like a verifier."""

from __future__ import annotations

import smtplib
from typing import Any

import dns.asyncresolver

from ac_hygiene.sandbox.mailworld import RunningMailWorld

BIG_TXT = [f"record-{index:02d}-" + "x" * 90 for index in range(30)]


def world_data() -> dict[str, Any]:
    """Fresh data each call, so a test that edits it cannot leak into another."""
    return {
        "hosts": {
            "mx1.acme.com": "127.0.0.11",
            "mx2.acme.com": "127.0.0.12",
            "mx.shared-host.net": "127.0.0.14",
        },
        "domains": {
            "acme.com": {
                "mx": [[20, "mx2.acme.com"], [10, "mx1.acme.com"]],
                "mailboxes": ["alice", "bob"],
                "full_mailboxes": ["carol"],
                "mailbox_pattern": r"[a-z]+\.[a-z]+",
                "txt": ["v=spf1 ip4:127.0.0.11 -all"],
            },
            "catchall.io": {"mx": [[10, "mx.catchall.io"]], "catch_all": True},
            "nullmx.org": {"null_mx": True},
            "aonly.net": {"a": "127.0.0.13", "mailboxes": ["dan"]},
            "gone.biz": {"nxdomain": True},
            "flaky-dns.com": {"servfail": True},
            "grey.net": {"mx": [[10, "mx.grey.net"]], "mailboxes": ["erin"], "greylist_seconds": 1},
            "blocked.com": {"mx": [[10, "mx.blocked.com"]], "block": True},
            "down.com": {"mx": [[10, "mx.down.com"]]},
            "dead.com": {"mx": [[10, "mx.dead.com"]], "mailboxes": ["x"], "down": True},
            "slow-dns.com": {"mx": [[10, "mx.slow.com"]], "catch_all": True, "dns_delay_s": 0.3},
            "capped.com": {"mx": [[10, "mx.capped.com"]], "catch_all": True, "max_recipients": 3},
            "laggy.com": {"mx": [[10, "mx.laggy.com"]], "mailboxes": ["a"], "latency_s": 0.1},
            "Bücher.de": {"mx": [[10, "mx.bücher.de"]], "mailboxes": ["Jürgen"]},
            "bigtxt.com": {"txt": BIG_TXT},
            "parked.com": {"mx": [[10, "mx.shared-host.net"]]},
            "hosted.com": {"mx": [[10, "mx.shared-host.net"]], "mailboxes": ["info"]},
            "v6.com": {"a": "127.0.0.15", "aaaa": "::1"},
        },
    }


def make_resolver(running: RunningMailWorld) -> dns.asyncresolver.Resolver:
    """Exactly how a verifier is configured to use the sandbox: no system config, one server."""
    resolver = dns.asyncresolver.Resolver(configure=False)
    resolver.nameservers = [running.dns_host]
    resolver.nameserver_ports = {running.dns_host: running.dns_port}
    resolver.lifetime = 5.0
    return resolver


def rcpt_replies(
    running: RunningMailWorld, host: str, recipients: list[str], *, utf8: bool = False
) -> list[tuple[int, str]]:
    """One SMTP session to `host`: EHLO, MAIL FROM, one RCPT per recipient, QUIT."""
    address = running.host_addresses.get(host) or running.world.address_of(host)
    assert address is not None, f"{host} has no address in the world"
    with smtplib.SMTP(address, running.smtp_port, local_hostname="probe.example", timeout=5) as s:
        s.ehlo()
        code, _ = s.mail("probe@verifier.example", ["SMTPUTF8"] if utf8 else [])
        assert code == 250
        replies = []
        for recipient in recipients:
            code, message = s.rcpt(recipient)
            replies.append((code, message.decode()))
        return replies

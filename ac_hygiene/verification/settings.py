"""How the engine reaches the network and how hard it may push: one frozen value per batch.

Everything that differs between production and the sandbox mail world is here (name servers,
SMTP port, HELO name), so the sandbox is reached through ordinary settings, never a test path.
"""

from __future__ import annotations

import math
import socket
from dataclasses import dataclass, field
from functools import cache


@cache
def _default_helo() -> str:
    # Like smtplib: the host's FQDN. A HELO name that does not match the prober's reverse DNS is
    # what gets probing addresses blacklisted, so production deployments should set it.
    name = socket.getfqdn()
    return name if "." in name else "localhost.localdomain"


# Names that must resolve to mail servers on any working resolver: the MX of the largest free
# providers. A resolver that says NXDOMAIN for them (a captive portal, a misconfigured DNS) or
# cannot be reached is not trusted with a single verdict of the batch.
DEFAULT_CANARIES = ("gmail.com", "outlook.com", "yahoo.com")


@dataclass(frozen=True)
class VerificationSettings:
    """Engine settings; the defaults are those of a polite prober on the real internet."""

    # (host, port) name servers; None uses the system resolver (/etc/resolv.conf).
    nameservers: tuple[tuple[str, int], ...] | None = None
    smtp_port: int = 25
    helo_name: str = field(default_factory=_default_helo)
    mail_from: str = ""  # empty: verify@<helo_name>
    dns_timeout_s: float = 5.0
    smtp_connect_timeout_s: float = 10.0
    smtp_command_timeout_s: float = 20.0
    smtp_session_timeout_s: float = 120.0
    greylist_budget_s: float = 30.0  # longest the batch waits for greylisting to clear
    greylist_default_delay_s: float = 5.0  # when the 4xx reply names no delay
    max_recipients_per_session: int = 25
    concurrency: int = 100  # SMTP sessions open at once, overall
    # SMTP sessions open at once to one MX address: half of Postfix's
    # default_destination_concurrency_limit (20), since a prober is a guest, not a sender.
    concurrency_per_host: int = 10
    dns_concurrency: int = 64  # DNS queries in flight at once
    max_mx_addresses: int = 4  # MX addresses tried per session before giving up
    check_dns: bool = True
    # Checked before each batch (see engine): if any says "no such domain / no mail" or none
    # resolves, every DNS-derived verdict of the batch is unknown `dns_unreliable`. () disables.
    canaries: tuple[str, ...] = DEFAULT_CANARIES
    check_smtp: bool = True
    check_catch_all: bool = True
    suggest_typos: bool = True

    def __post_init__(self) -> None:
        problems: list[str] = []
        if self.nameservers is not None:
            servers = tuple((str(host), int(port)) for host, port in self.nameservers)
            object.__setattr__(self, "nameservers", servers)
            if not servers:
                problems.append("nameservers is empty: give (host, port) pairs or None")
            for host, port in servers:
                if not host or not 0 < port < 65536:
                    problems.append(f"nameserver {host!r}:{port} is not a host and port 1-65535")
        if isinstance(self.canaries, str):
            problems.append(f"canaries must be a list of domain names, got {self.canaries!r}")
        else:
            canaries = tuple(str(name).strip().lower().rstrip(".") for name in self.canaries)
            object.__setattr__(self, "canaries", canaries)
            for name in canaries:
                if not name or "." not in name or any(c.isspace() or c == "@" for c in name):
                    problems.append(f"canary {name!r} is not a domain name such as gmail.com")
        if not 0 < self.smtp_port < 65536:
            problems.append(f"smtp_port must be 1-65535, got {self.smtp_port}")
        if not self.helo_name or any(c.isspace() for c in self.helo_name):
            problems.append(f"helo_name must be a host name without spaces, got {self.helo_name!r}")
        if any(c.isspace() or c in "<>" for c in self.mail_from):
            problems.append(f"mail_from must be a bare address, got {self.mail_from!r}")
        for name in (
            "dns_timeout_s",
            "smtp_connect_timeout_s",
            "smtp_command_timeout_s",
            "smtp_session_timeout_s",
        ):
            if not 0 < getattr(self, name) < math.inf:  # nan and inf: no timeout at all
                problems.append(
                    f"{name} must be a finite number of seconds > 0, got {getattr(self, name)}"
                )
        for name in ("greylist_budget_s", "greylist_default_delay_s"):
            if not 0 <= getattr(self, name) < math.inf:
                problems.append(
                    f"{name} must be a finite number of seconds >= 0, got {getattr(self, name)}"
                )
        for name in (
            "max_recipients_per_session",
            "concurrency",
            "concurrency_per_host",
            "dns_concurrency",
            "max_mx_addresses",
        ):
            if not getattr(self, name) >= 1:
                problems.append(f"{name} must be >= 1, got {getattr(self, name)}")
        if problems:
            raise ValueError("invalid verification settings: " + "; ".join(problems))

    @property
    def sender(self) -> str:
        """The MAIL FROM address: a real-looking sender at the HELO domain unless set."""
        return self.mail_from or f"verify@{self.helo_name}"


def parse_host_port(text: str, default_port: int = 53) -> tuple[str, int]:
    """`127.0.0.1:5353` -> ("127.0.0.1", 5353); `[::1]:53` for IPv6; a bare host -> default port.

    For command lines and environment variables; raises ValueError with the expected form.
    """
    text = text.strip()
    host, port = text, str(default_port)
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port = rest.removeprefix(":") or str(default_port)
    elif text.count(":") == 1:
        host, port = text.split(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"expected host:port (e.g. 127.0.0.1:5353), got {text!r}")
    return host, int(port)

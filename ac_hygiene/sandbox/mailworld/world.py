"""The mail world: which domains exist, where their mail goes and what their servers answer.

A world is one YAML file (DESIGN.md, "Mail world")::

    hosts:   {mx1.acme.com: 127.0.0.11}            # host name -> IPv4 address in 127.0.0.0/8
    domains:
      acme.com: {mx: [[10, mx1.acme.com]], mailboxes: [alice], full_mailboxes: [carol]}

Per-domain keys of the contract: `mx` (list of [preference, host]), `a`, `aaaa`, `mailboxes`,
`full_mailboxes`, `catch_all`, `null_mx`, `nxdomain`, `servfail`, `greylist_seconds`, `block`.
Extensions of this sandbox:

- `mailbox_pattern`: a regular expression of local parts that are mailboxes (full match,
  case-insensitive), so a world for 100,000 contacts needs no 100,000-line file.
- `down: true`: the domain's mail hosts have nothing listening (connection refused).
- `dns_delay_s`: seconds every DNS answer about the domain is held back (a slow name server).
- `txt`: list of TXT strings (SPF and the like).
- `max_recipients`: RCPT commands one SMTP session may send to the domain's hosts; the next ones
  get `452 4.5.3 Too many recipients`. A host shared by several domains uses the smallest cap.
- `latency_s`: seconds each SMTP reply of the domain's hosts is held back (largest on a shared
  host).
- `replies`: the domain's own reply texts, as its provider writes them: `{unknown: ..., accepted:
  ..., full: ...}`, each a whole reply with its code (`550 5.1.10 RESOLVER.ADR.RecipientNotFound;
  ...`; lines of a multi-line reply separated by newlines, each with its code and `-`/space);
  `{address}` is replaced by the recipient. Defaults: Postfix's texts.
- `sender_reject`: a reply given to every RCPT instead of a verdict on the recipient, about the
  sender, as Postfix does with its sender restrictions and `smtpd_delay_reject = yes`
  (`550 5.1.0 <{sender}>: Sender address rejected: Domain not found`; `{sender}` is the MAIL
  FROM). The mailboxes still exist: a verifier must say unknown, not undeliverable.
- `postmaster` (default true): whether postmaster@ is accepted (RFC 5321 section 4.5.1 requires
  it). `rejects_all: true`: every RCPT, postmaster's included, gets the `unknown` reply (a server
  that hides its mailboxes or is broken): nothing can be concluded about any address.

Rules that make any file of this format work:

- An MX host missing from `hosts` gets a deterministic address from 127.0.1.0/24, 127.0.2.0/24 ...,
  in sorted order of the names that need one, skipping addresses the file already uses.
- A host listens for SMTP only if some domain pointing at it has mail behaviour (mailboxes,
  mailbox_pattern, full_mailboxes, catch_all, block, greylist_seconds) and is not `down`; a domain
  with mail behaviour and no MX is served on its `a` address (RFC 5321 A fallback).
- Domain names compare case-insensitively and in IDNA form (`bücher.de` is `xn--bcher-kva.de`);
  local parts compare case-insensitively after NFC normalization.
- Every address must be loopback (IPv4 127.0.0.0/8, IPv6 ::1), so a world can never bind or point
  at anything off this machine. `aaaa` records are answered in DNS only; nothing listens on ::1.
"""

from __future__ import annotations

import difflib
import ipaddress
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from ac_hygiene.sandbox.mailworld.names import InvalidName, normalize_domain, normalize_local_part

_MAIL_BEHAVIOUR = (
    "mailboxes",
    "mailbox_pattern",
    "full_mailboxes",
    "catch_all",
    "block",
    "greylist_seconds",
    "sender_reject",
    "rejects_all",
)
_DOMAIN_KEYS = frozenset(
    {
        "mx",
        "a",
        "aaaa",
        "mailboxes",
        "full_mailboxes",
        "catch_all",
        "null_mx",
        "nxdomain",
        "servfail",
        "greylist_seconds",
        "block",
        "mailbox_pattern",
        "down",
        "dns_delay_s",
        "txt",
        "max_recipients",
        "latency_s",
        "replies",
        "sender_reject",
        "postmaster",
        "rejects_all",
    }
)
_REPLY_KINDS = {"unknown": "5", "accepted": "2", "full": "45"}  # kind -> allowed first digits
DEFAULT_REPLIES = {
    "unknown": "550 5.1.1 <{address}>: Recipient address rejected: User unknown",
    "accepted": "250 2.1.5 OK",
    "full": "552 5.2.2 Mailbox full",
}
_DNS_ONLY_KEYS = frozenset({"dns_delay_s"})
_TOP_KEYS = frozenset({"hosts", "domains"})
_MAX_ERRORS_SHOWN = 20


class WorldError(ValueError):
    """A world file that cannot be served; the message lists every problem found, with its place."""


class Mailbox(StrEnum):
    """What a domain's server makes of one local part (before blocks, greylisting and caps)."""

    MAILBOX = "mailbox"
    FULL = "full"
    CATCH_ALL = "catch_all"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class DomainSpec:
    """One validated domain of the world; `name` is the normalized (IDNA, lower-case) name."""

    name: str
    mx: tuple[tuple[int, str], ...] = ()
    a: str | None = None
    aaaa: str | None = None
    mailboxes: frozenset[str] = frozenset()
    full_mailboxes: frozenset[str] = frozenset()
    mailbox_pattern: re.Pattern[str] | None = None
    catch_all: bool = False
    null_mx: bool = False
    nxdomain: bool = False
    servfail: bool = False
    greylist_seconds: float = 0.0
    block: bool = False
    down: bool = False
    dns_delay_s: float = 0.0
    txt: tuple[str, ...] = ()
    max_recipients: int | None = None
    latency_s: float = 0.0
    replies: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_REPLIES))
    sender_reject: str | None = None
    postmaster: bool = True
    rejects_all: bool = False

    def reply(self, kind: str, address: str) -> str:
        """The domain's reply of `kind` (unknown / accepted / full) for one recipient."""
        return self.replies[kind].replace("{address}", address)

    @property
    def has_mail_behaviour(self) -> bool:
        """Whether some server must answer for this domain (the rule that decides who listens)."""
        return bool(
            self.mailboxes
            or self.mailbox_pattern is not None
            or self.full_mailboxes
            or self.catch_all
            or self.block
            or self.greylist_seconds
            or self.sender_reject is not None
            or self.rejects_all
        )

    @property
    def mail_targets(self) -> tuple[str, ...]:
        """Names a sender connects to: the MX hosts in preference order, else the domain (A)."""
        if self.null_mx:
            return ()
        if self.mx:
            return tuple(host for _, host in sorted(self.mx, key=lambda pair: pair[0]))
        return (self.name,) if self.a else ()

    def classify(self, local_part: str) -> Mailbox:
        """Say what the domain's server thinks of `local_part` (any case, any normalization)."""
        local = normalize_local_part(local_part)
        if local == "postmaster" and local not in self.full_mailboxes:
            return Mailbox.MAILBOX if self.postmaster else Mailbox.UNKNOWN
        if local in self.full_mailboxes:
            return Mailbox.FULL
        if local in self.mailboxes or (
            self.mailbox_pattern is not None and self.mailbox_pattern.fullmatch(local)
        ):
            return Mailbox.MAILBOX
        if self.catch_all:
            return Mailbox.CATCH_ALL
        return Mailbox.UNKNOWN


@dataclass(frozen=True)
class Listener:
    """One SMTP server to start: an address and the domains whose mail it takes."""

    address: str
    names: tuple[str, ...]
    domains: frozenset[str]
    latency_s: float = 0.0
    max_recipients: int | None = None

    @property
    def label(self) -> str:
        """The name statistics and banners use for this server."""
        return ",".join(self.names)


@dataclass(frozen=True)
class MailWorld:
    """A validated world. Build it with `load` or `from_dict`, never field by field."""

    domains: Mapping[str, DomainSpec]
    hosts: Mapping[str, str]
    listeners: tuple[Listener, ...]
    source: Mapping[str, Any] = field(repr=False, compare=False)

    @classmethod
    def load(cls, path: str | Path) -> MailWorld:
        """Read and validate a world file; every problem is reported with the file's name."""
        path = Path(path)
        try:
            raw = path.read_bytes()
        except OSError as error:
            raise WorldError(f"cannot read mail world {path}: {error.strerror}") from error
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as error:
            line = raw.count(b"\n", 0, error.start) + 1
            raise WorldError(
                f"mail world {path} is not UTF-8 text: byte 0x{raw[error.start]:02x} on line {line}"
            ) from None
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as error:
            raise WorldError(f"mail world {path} is not valid YAML: {error}") from error
        try:
            return cls.from_dict(data)
        except WorldError as error:
            raise WorldError(f"mail world {path}: {error}") from None

    @classmethod
    def from_dict(cls, data: Any) -> MailWorld:
        """Validate a world given as plain data (the parsed YAML)."""
        return _build(data)

    def domain(self, name: str) -> DomainSpec | None:
        """The domain spec for a name in any spelling, or None if the world does not have it."""
        try:
            return self.domains.get(normalize_domain(name))
        except InvalidName:
            return None

    def address_of(self, name: str) -> str | None:
        """The A record of a normalized name: a host's address or a domain's `a`."""
        spec = self.domains.get(name)
        if spec is not None and spec.a:
            return spec.a
        return self.hosts.get(name)


def default_world_path() -> Path:
    """The world the demo, the sandbox accounts and the CLI use when given none."""
    return Path(str(resources.files("ac_hygiene.sandbox").joinpath("worlds", "default.yaml")))


class _Problems:
    """Collects every validation problem so one run of a bad file shows them all."""

    def __init__(self) -> None:
        self.items: list[str] = []

    def add(self, where: str, message: str) -> None:
        self.items.append(f"{where}: {message}")

    def raise_if_any(self) -> None:
        if not self.items:
            return
        shown = self.items[:_MAX_ERRORS_SHOWN]
        more = len(self.items) - len(shown)
        tail = f"\n  ... and {more} more" if more else ""
        raise WorldError(
            f"{len(self.items)} problem(s) in the mail world:\n  " + "\n  ".join(shown) + tail
        )


def _unknown_key_message(key: Any, allowed: Iterable[str]) -> str:
    close = difflib.get_close_matches(str(key), sorted(allowed), n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return f"unknown key {key!r}{hint}; allowed: {', '.join(sorted(allowed))}"


def _loopback_ip(value: Any, version: int, where: str, problems: _Problems) -> str | None:
    try:
        ip = ipaddress.ip_address(str(value).strip()) if isinstance(value, str) else None
    except ValueError:
        ip = None
    if ip is None or ip.version != version:
        kind = "IPv4 address such as 127.0.0.11" if version == 4 else "IPv6 address (::1)"
        problems.add(where, f"{value!r} is not an {kind}")
        return None
    if not ip.is_loopback:
        problems.add(
            where,
            f"{value} is not a loopback address: the sandbox only binds and points at "
            + ("127.0.0.0/8" if version == 4 else "::1"),
        )
        return None
    return str(ip)


def _name(value: Any, where: str, problems: _Problems) -> str | None:
    if not isinstance(value, str):
        problems.add(where, f"expected a domain name, got {value!r}")
        return None
    try:
        return normalize_domain(value)
    except InvalidName as error:
        problems.add(where, str(error))
        return None


def _flag(spec: Mapping[str, Any], key: str, where: str, problems: _Problems) -> bool:
    value = spec.get(key, False)
    if not isinstance(value, bool):
        problems.add(f"{where}.{key}", f"expected true or false, got {value!r}")
        return False
    return value


def _seconds(spec: Mapping[str, Any], key: str, where: str, problems: _Problems) -> float:
    value = spec.get(key, 0)
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value < 0
    ):
        problems.add(f"{where}.{key}", f"expected a number of seconds >= 0, got {value!r}")
        return 0.0
    return float(value)


def _strings(spec: Mapping[str, Any], key: str, where: str, problems: _Problems) -> list[str]:
    value = spec.get(key, [])
    if not isinstance(value, list) or not all(isinstance(item, str) and item for item in value):
        problems.add(f"{where}.{key}", f"expected a list of non-empty strings, got {value!r}")
        return []
    return value


def _local_parts(spec: Mapping[str, Any], key: str, where: str, problems: _Problems) -> frozenset:
    parts = _strings(spec, key, where, problems)
    for part in parts:
        if "@" in part:
            problems.add(f"{where}.{key}", f"{part!r} must be a local part only (no '@domain')")
    return frozenset(normalize_local_part(part) for part in parts)


def _mx(value: Any, where: str, problems: _Problems) -> tuple[tuple[int, str], ...]:
    if not isinstance(value, list):
        problems.add(where, f"expected a list of [preference, host] pairs, got {value!r}")
        return ()
    records: list[tuple[int, str]] = []
    for index, item in enumerate(value):
        here = f"{where}[{index}]"
        if not (isinstance(item, list | tuple) and len(item) == 2):
            problems.add(here, f"expected [preference, host], got {item!r}")
            continue
        preference, host = item
        if isinstance(preference, bool) or not isinstance(preference, int):
            problems.add(here, f"preference must be an integer 0-65535, got {preference!r}")
            continue
        if not 0 <= preference <= 65535:
            problems.add(here, f"preference must be an integer 0-65535, got {preference!r}")
            continue
        name = _name(host, here, problems)
        if name is not None:
            records.append((preference, name))
    return tuple(records)


def _pattern(value: Any, where: str, problems: _Problems) -> re.Pattern[str] | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        problems.add(where, f"expected a regular expression string, got {value!r}")
        return None
    try:
        return re.compile(value, re.IGNORECASE)
    except re.error as error:
        problems.add(where, f"invalid regular expression {value!r}: {error}")
        return None


def _reply_text(value: Any, digits: str, where: str, problems: _Problems) -> str | None:
    """A whole SMTP reply: one line per reply line, each `NNN-` / last `NNN `, one code."""
    if not isinstance(value, str) or not value.strip():
        problems.add(
            where, f"expected an SMTP reply such as '550 5.1.1 User unknown', got {value!r}"
        )
        return None
    lines = value.strip().split("\n")
    code = lines[0][:3]
    for index, line in enumerate(lines):
        marker = " " if index == len(lines) - 1 else "-"
        if len(line) < 4 or line[:3] != code or line[3] != marker or not code.isdigit():
            problems.add(
                where,
                f"line {index + 1} of {value!r:.80} must start with {code!r} and {marker!r} "
                "(a reply code, '-' before continuation lines, a space on the last)",
            )
            return None
    if code[0] not in digits:
        problems.add(where, f"reply code {code} must start with {' or '.join(digits)}")
        return None
    return "\r\n".join(lines)


def _reply_line(
    spec: Mapping[str, Any], key: str, digits: str, where: str, problems: _Problems
) -> str | None:
    if key not in spec:
        return None
    return _reply_text(spec[key], digits, f"{where}.{key}", problems)


def _replies(value: Any, where: str, problems: _Problems) -> dict[str, str]:
    replies = dict(DEFAULT_REPLIES)
    if value is None:
        return replies
    if not isinstance(value, Mapping):
        problems.add(
            where, f"expected a mapping of unknown/accepted/full to replies, got {value!r}"
        )
        return replies
    for kind, text in value.items():
        if kind not in _REPLY_KINDS:
            problems.add(where, _unknown_key_message(kind, _REPLY_KINDS))
            continue
        checked = _reply_text(text, _REPLY_KINDS[kind], f"{where}.{kind}", problems)
        if checked is not None:
            replies[kind] = checked
    return replies


def _domain(name: str, spec: Mapping[str, Any], where: str, problems: _Problems) -> DomainSpec:
    for key in spec:
        if key not in _DOMAIN_KEYS:
            problems.add(where, _unknown_key_message(key, _DOMAIN_KEYS))
    max_recipients = spec.get("max_recipients")
    if max_recipients is not None and (
        isinstance(max_recipients, bool)
        or not isinstance(max_recipients, int)
        or max_recipients < 1
    ):
        problems.add(f"{where}.max_recipients", f"expected an integer >= 1, got {max_recipients!r}")
        max_recipients = None
    domain = DomainSpec(
        name=name,
        mx=_mx(spec["mx"], f"{where}.mx", problems) if "mx" in spec else (),
        a=_loopback_ip(spec["a"], 4, f"{where}.a", problems) if "a" in spec else None,
        aaaa=_loopback_ip(spec["aaaa"], 6, f"{where}.aaaa", problems) if "aaaa" in spec else None,
        mailboxes=_local_parts(spec, "mailboxes", where, problems),
        full_mailboxes=_local_parts(spec, "full_mailboxes", where, problems),
        mailbox_pattern=_pattern(spec.get("mailbox_pattern"), f"{where}.mailbox_pattern", problems),
        catch_all=_flag(spec, "catch_all", where, problems),
        null_mx=_flag(spec, "null_mx", where, problems),
        nxdomain=_flag(spec, "nxdomain", where, problems),
        servfail=_flag(spec, "servfail", where, problems),
        greylist_seconds=_seconds(spec, "greylist_seconds", where, problems),
        block=_flag(spec, "block", where, problems),
        down=_flag(spec, "down", where, problems),
        dns_delay_s=_seconds(spec, "dns_delay_s", where, problems),
        txt=tuple(_strings(spec, "txt", where, problems)),
        max_recipients=max_recipients,
        latency_s=_seconds(spec, "latency_s", where, problems),
        replies=_replies(spec.get("replies"), f"{where}.replies", problems),
        sender_reject=_reply_line(spec, "sender_reject", "45", where, problems),
        postmaster=_flag(spec, "postmaster", where, problems) if "postmaster" in spec else True,
        rejects_all=_flag(spec, "rejects_all", where, problems),
    )
    _check_consistency(domain, spec, where, problems)
    return domain


def _check_consistency(
    domain: DomainSpec, spec: Mapping[str, Any], where: str, problems: _Problems
) -> None:
    """Refuse combinations that no real domain has, rather than guess which key wins."""
    for flag in ("nxdomain", "servfail"):
        if getattr(domain, flag):
            others = sorted(set(spec) - _DNS_ONLY_KEYS - {flag})
            if others:
                problems.add(where, f"{flag}: true cannot be combined with {', '.join(others)}")
    if domain.null_mx and domain.mx:
        problems.add(where, "null_mx: true cannot be combined with mx records")
    if domain.null_mx and domain.has_mail_behaviour:
        problems.add(where, "null_mx: true means the domain accepts no mail; drop its mail keys")
    if domain.has_mail_behaviour and not domain.null_mx and not domain.mail_targets:
        problems.add(where, "has mail behaviour but no mx and no a: nothing could receive its mail")
    if domain.down and not domain.mail_targets:
        problems.add(where, "down: true needs mx or a (the hosts that have nothing listening)")


def _assign_addresses(needed: Iterable[str], used: set[str]) -> dict[str, str]:
    """Give each name a free address from 127.0.1.0/24 onwards, in sorted order (deterministic)."""
    assigned: dict[str, str] = {}
    candidates = (
        f"127.{second}.{third}.{fourth}"
        for second in range(0, 256)
        for third in range(1, 256)
        for fourth in range(1, 255)
    )
    for name in sorted(set(needed)):
        for address in candidates:
            if address not in used:
                assigned[name] = address
                used.add(address)
                break
    return assigned


def _build(data: Any) -> MailWorld:
    problems = _Problems()
    if not isinstance(data, Mapping):
        raise WorldError(f"a mail world is a mapping with 'hosts' and 'domains', got {data!r:.80}")
    for key in data:
        if key not in _TOP_KEYS:
            problems.add("(top level)", _unknown_key_message(key, _TOP_KEYS))
    raw_hosts = data.get("hosts")
    raw_hosts = {} if raw_hosts is None else raw_hosts
    raw_domains = data.get("domains")
    if not isinstance(raw_hosts, Mapping):
        problems.add("hosts", f"expected a mapping of host name to address, got {raw_hosts!r:.80}")
        raw_hosts = {}
    if not isinstance(raw_domains, Mapping):
        problems.add(
            "domains", f"expected a mapping of domain name to settings, got {raw_domains!r:.80}"
        )
        raw_domains = {}

    hosts: dict[str, str] = {}
    for raw_name, raw_ip in raw_hosts.items():
        where = f"hosts.{raw_name}"
        name = _name(raw_name, where, problems)
        ip = _loopback_ip(raw_ip, 4, where, problems)
        if name is None or ip is None:
            continue
        if name in hosts:
            problems.add(where, f"host {name} is listed twice")
        hosts[name] = ip

    domains: dict[str, DomainSpec] = {}
    for raw_name, raw_spec in raw_domains.items():
        where = f"domains.{raw_name}"
        name = _name(raw_name, where, problems)
        spec = {} if raw_spec is None else raw_spec
        if not isinstance(spec, Mapping):
            problems.add(where, f"expected a mapping of settings, got {raw_spec!r:.80}")
            continue
        if name is None:
            continue
        if name in domains:
            problems.add(where, f"domain {name} is listed twice (names compare in IDNA, any case)")
        domains[name] = _domain(name, spec, where, problems)
    problems.raise_if_any()

    for name, spec in domains.items():
        if spec.a and name in hosts and hosts[name] != spec.a:
            problems.add(f"domains.{name}.a", f"{spec.a} disagrees with hosts.{name} {hosts[name]}")
    needed = {
        host
        for spec in domains.values()
        for _, host in spec.mx
        if host not in hosts and not (host in domains and domains[host].a)
    }
    used = set(hosts.values()) | {spec.a for spec in domains.values() if spec.a}
    hosts.update(_assign_addresses(needed, used))
    listeners = _listeners(domains, hosts, problems)
    problems.raise_if_any()
    return MailWorld(domains=domains, hosts=hosts, listeners=listeners, source=data)


def _listeners(
    domains: Mapping[str, DomainSpec], hosts: Mapping[str, str], problems: _Problems
) -> tuple[Listener, ...]:
    """Decide which addresses get an SMTP server and which domains each one serves."""

    def address(name: str) -> str:
        spec = domains.get(name)
        return spec.a if spec is not None and spec.a else hosts[name]

    serving: dict[str, list[DomainSpec]] = {}
    names: dict[str, set[str]] = {}
    down: dict[str, str] = {}
    for spec in domains.values():
        for target in spec.mail_targets:
            ip = address(target)
            if spec.down:
                down.setdefault(ip, spec.name)
            elif spec.has_mail_behaviour:
                serving.setdefault(ip, []).append(spec)
                names.setdefault(ip, set()).add(target)
    for ip, down_domain in sorted(down.items()):
        if ip in serving:
            live = serving[ip][0].name
            problems.add(
                f"domains.{down_domain}",
                f"down: true, but its mail host {ip} also serves {live}; give it its own host",
            )
    listeners = []
    for ip, specs in sorted(serving.items(), key=lambda item: ipaddress.ip_address(item[0])):
        caps = [spec.max_recipients for spec in specs if spec.max_recipients is not None]
        listeners.append(
            Listener(
                address=ip,
                names=tuple(sorted(names[ip])),
                domains=frozenset(spec.name for spec in specs),
                latency_s=max(spec.latency_s for spec in specs),
                max_recipients=min(caps) if caps else None,
            )
        )
    return tuple(listeners)

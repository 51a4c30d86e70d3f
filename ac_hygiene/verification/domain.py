"""Layer 2: where a domain's mail goes, from DNS (dnspython's async resolver).

Rules, in the order they are applied:

- NXDOMAIN -> undeliverable `no_domain`.
- MX records: a null MX (RFC 7505: the single record `0 .`) -> undeliverable `null_mx`; else the
  MX hosts in preference order, each resolved to its addresses (the answer's additional section
  is used when the server sends it, saving a query per host).
- No MX -> the domain's own A, then AAAA records (RFC 5321 §5.1 implicit MX); none of either ->
  undeliverable `no_mail_server`, as is an MX whose hosts all have no address.
- Timeout, SERVFAIL, REFUSED or anything unexpected -> unknown `dns_error`: a broken resolver
  says nothing about the address, so it must never make one undeliverable.

Each domain and each MX host is looked up once per batch: the first caller starts the query and
everyone else awaits the same task (an in-flight cache), so a batch of 10,000 addresses at one
domain costs one MX query however they are scheduled.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import dns.asyncresolver
import dns.exception
import dns.name
import dns.rdatatype
import dns.resolver

from ac_hygiene.verification.settings import VerificationSettings

T = TypeVar("T")

OK = "ok"
NO_DOMAIN = "no_domain"
NULL_MX = "null_mx"
NO_MAIL_SERVER = "no_mail_server"
DNS_ERROR = "dns_error"


@dataclass(frozen=True, slots=True)
class DomainResult:
    """What DNS says about one domain: a status (`ok` or a reason code) and the mail targets."""

    status: str
    # (host name, address) pairs to connect to, most preferred first; empty unless status is ok.
    targets: tuple[tuple[str, str], ...] = ()
    detail: str = ""

    @property
    def mx_host(self) -> str | None:
        """The most preferred mail host's name (what the result row reports)."""
        return self.targets[0][0] if self.targets else None


@dataclass(slots=True)
class _HostAddresses:
    addresses: tuple[str, ...] = ()
    error: str = ""


@dataclass
class DnsStats:
    """Queries this resolver sent, for the benchmark and the one-query-per-domain tests."""

    queries: int = 0
    by_type: dict[str, int] = field(default_factory=dict)


class _Failure(Exception):
    """A lookup that ended in a DNS error; carries the reason code for the result."""

    def __init__(self, status: str, detail: str):
        super().__init__(detail)
        self.status = status
        self.detail = detail


def make_resolver(settings: VerificationSettings) -> dns.asyncresolver.Resolver:
    """A resolver that uses exactly the configured name servers (or the system's) and no cache."""
    if settings.nameservers is None:
        try:
            resolver = dns.asyncresolver.Resolver()
        except dns.resolver.NoResolverConfiguration as error:
            raise ValueError(
                "no system DNS resolver is configured (/etc/resolv.conf); give the engine "
                "nameservers=[(host, port)] explicitly"
            ) from error
    else:
        resolver = dns.asyncresolver.Resolver(configure=False)
        resolver.nameservers = [host for host, _ in settings.nameservers]
        resolver.nameserver_ports = dict(settings.nameservers)
    resolver.lifetime = settings.dns_timeout_s
    # Two tries within the lifetime: one lost UDP datagram must not turn into dns_error.
    resolver.timeout = settings.dns_timeout_s / 2
    resolver.cache = None
    return resolver


class DomainResolver:
    """Per-batch DNS lookups with an in-flight cache (see the module docstring)."""

    def __init__(
        self, settings: VerificationSettings, resolver: dns.asyncresolver.Resolver | None = None
    ):
        self._resolver = resolver or make_resolver(settings)
        self._limit = asyncio.Semaphore(settings.dns_concurrency)
        self._domains: dict[str, asyncio.Task[DomainResult]] = {}
        self._hosts: dict[str, asyncio.Task[_HostAddresses]] = {}
        self.stats = DnsStats()

    async def lookup(self, domain: str) -> DomainResult:
        """The mail targets of `domain` (IDNA, lower-case); never raises."""
        return await self._shared(self._domains, domain, lambda: self._lookup_domain(domain))

    @staticmethod
    async def _shared(
        tasks: dict[str, asyncio.Task[T]], key: str, start: Callable[[], Awaitable[T]]
    ) -> T:
        task = tasks.get(key)
        if task is None:
            task = tasks[key] = asyncio.ensure_future(start())
        # shield: one caller being cancelled must not cancel the query the others await.
        return await asyncio.shield(task)

    async def _query(self, name: str, rdtype: str) -> Any:
        """One DNS query; an answer (possibly with no records) or a `_Failure`/NXDOMAIN."""
        async with self._limit:
            self.stats.queries += 1
            self.stats.by_type[rdtype] = self.stats.by_type.get(rdtype, 0) + 1
            try:
                return await self._resolver.resolve(
                    dns.name.from_text(name), rdtype, raise_on_no_answer=False, search=False
                )
            except dns.resolver.NXDOMAIN:
                raise
            except dns.resolver.NoNameservers as error:
                raise _Failure(DNS_ERROR, f"{rdtype} {name}: server failure ({error})") from None
            except dns.exception.Timeout:
                raise _Failure(DNS_ERROR, f"{rdtype} {name}: timed out") from None
            except (dns.exception.DNSException, OSError, ValueError) as error:
                raise _Failure(DNS_ERROR, f"{rdtype} {name}: {type(error).__name__}") from None

    async def _lookup_domain(self, domain: str) -> DomainResult:
        try:
            answer = await self._query(domain, "MX")
            if answer.rrset is None:
                return await self._implicit_mx(domain)
            records = sorted(
                (rr.preference, rr.exchange.to_text(omit_final_dot=True).lower())
                for rr in answer.rrset
            )
            hosts = [host for _, host in records if host not in ("", ".")]
            if not hosts:
                return DomainResult(NULL_MX, detail="null MX (RFC 7505): accepts no mail")
            glue = _glue(answer)
            found = await asyncio.gather(*(self._host(host, glue.get(host)) for host in hosts))
        except dns.resolver.NXDOMAIN:
            return DomainResult(NO_DOMAIN, detail="NXDOMAIN: the domain does not exist")
        except _Failure as failure:
            return DomainResult(failure.status, detail=failure.detail)
        targets = tuple(
            (host, address)
            for host, result in zip(hosts, found, strict=True)
            for address in result.addresses
        )
        if targets:
            return DomainResult(OK, targets)
        errors = [result.error for result in found if result.error]
        if errors:
            return DomainResult(DNS_ERROR, detail=errors[0])
        return DomainResult(NO_MAIL_SERVER, detail="MX hosts have no address")

    async def _implicit_mx(self, domain: str) -> DomainResult:
        addresses = await self._addresses(domain)
        if addresses:
            return DomainResult(OK, tuple((domain, address) for address in addresses))
        return DomainResult(NO_MAIL_SERVER, detail="no MX and no A/AAAA record")

    async def _addresses(self, name: str) -> tuple[str, ...]:
        """A records, else AAAA records (IPv4 first: most probing networks lack IPv6)."""
        for rdtype in ("A", "AAAA"):
            answer = await self._query(name, rdtype)
            if answer.rrset is not None:
                return tuple(rr.address for rr in answer.rrset)
        return ()

    async def _host(self, host: str, glue: tuple[str, ...] | None) -> _HostAddresses:
        if glue:
            return _HostAddresses(glue)
        return await self._shared(self._hosts, host, lambda: self._lookup_host(host))

    async def _lookup_host(self, host: str) -> _HostAddresses:
        try:
            return _HostAddresses(await self._addresses(host))
        except dns.resolver.NXDOMAIN:
            return _HostAddresses()
        except _Failure as failure:
            return _HostAddresses(error=failure.detail)


def resolver_trustworthy(canaries: list[DomainResult]) -> bool:
    """Whether the canaries' answers show a working resolver.

    A canary is a name that has mail servers on any working resolver (gmail.com): one of them
    said to have no domain or no mail (a captive or NXDOMAIN-for-everything resolver), or none of
    them resolved at all (an unreachable resolver), and nothing the resolver says can be trusted.
    """
    statuses = [result.status for result in canaries]
    lying = any(status in (NO_DOMAIN, NULL_MX, NO_MAIL_SERVER) for status in statuses)
    return not lying and OK in statuses


def _glue(answer: Any) -> dict[str, tuple[str, ...]]:
    """A records the server volunteered in the additional section, by host name."""
    glue: dict[str, list[str]] = {}
    for rrset in answer.response.additional:
        if rrset.rdtype == dns.rdatatype.A:
            name = rrset.name.to_text(omit_final_dot=True).lower()
            glue.setdefault(name, []).extend(rr.address for rr in rrset)
    return {name: tuple(addresses) for name, addresses in glue.items()}

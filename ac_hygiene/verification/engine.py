"""The batch engine: every layer, cheapest first, each piece of work done once per batch.

1. Syntax: each distinct input string is parsed once; inputs that reach the same mailbox
   (`email_normalized`) are verified once and share the verdict.
2. Cache: every distinct mailbox is looked up before any network work; hits are reused as they
   are (`from_cache`), definite new verdicts are stored in chunks as routes finish, so a crash
   loses at most a chunk.
3. Lists and typo suggestions: in-memory lookups per mailbox / per domain.
4. DNS: one lookup per distinct domain (in-flight cache, bounded concurrency), together with
   the resolver's canaries (`settings.canaries`, names that must resolve). When the canaries
   fail, the resolver cannot be trusted: every address verified by this batch is unknown
   `dns_unreliable` (no SMTP either: its MX addresses would come from the same resolver), and
   `BatchStats.dns_reliable` is False so the caller can tell the whole batch is suspect.
5. SMTP: probes grouped by route (the MX addresses), many recipients per session, one
   catch-all test per domain (see `smtp`).

No input raises: None, empty strings, megabytes of garbage and lone surrogates all get a row
(`invalid_syntax`). `billable` is False for unknown verdicts (refunded), for rows without an
address, and for the second and later rows of one billing key (trimmed, case-insensitive).
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import polars as pl

from ac_hygiene.aio import run_sync
from ac_hygiene.verification import lists
from ac_hygiene.verification.cache import ResultCache
from ac_hygiene.verification.domain import (
    OK,
    DnsStats,
    DomainResolver,
    DomainResult,
    resolver_trustworthy,
)
from ac_hygiene.verification.result import (
    DNS_UNRELIABLE,
    UNKNOWN,
    Verification,
    combine,
    invalid,
    to_frame,
)
from ac_hygiene.verification.settings import VerificationSettings
from ac_hygiene.verification.smtp import Probe, SmtpProber, SmtpStats
from ac_hygiene.verification.syntax import ParsedAddress, dedup_key, parse_address
from ac_hygiene.verification.typo import suggest_email

Progress = Callable[[int, int], None]

CACHE_CHUNK = 500
PROGRESS_INTERVAL_S = 0.2


@dataclass
class BatchStats:
    """What one batch cost, for benchmarks and tests (the frame is the result)."""

    addresses: int = 0
    unique_mailboxes: int = 0
    unique_domains: int = 0
    cache_hits: int = 0
    # The resolver's canary check: None when not run (DNS off, no canaries, nothing to verify),
    # False when the canaries failed and the batch's new verdicts are all `dns_unreliable`.
    dns_reliable: bool | None = None
    canaries: dict[str, str] = field(default_factory=dict)  # canary -> DNS status it got
    dns: DnsStats = field(default_factory=DnsStats)
    smtp: SmtpStats = field(default_factory=SmtpStats)


def _now() -> datetime:
    return datetime.now(UTC)


class _Batch:
    """The state of one `averify_emails` call."""

    def __init__(
        self,
        emails: list[Any],
        settings: VerificationSettings,
        progress: Progress | None,
        cache: ResultCache | None,
        stats: BatchStats,
    ):
        self.emails = emails
        self.settings = settings
        self.progress = progress
        self.cache = cache
        self.stats = stats
        self.started = _now()
        # per input row: index of its mailbox in `mailboxes`, or -1 for no valid address
        self.row_mailbox: list[int] = []
        self.mailboxes: list[ParsedAddress] = []
        self.verdicts: list[Verification | None] = []
        self.rows_of: list[int] = []  # input rows per mailbox, for progress
        self.done_rows = 0
        self.last_report = 0.0
        self.unsaved: list[Verification] = []

    # -- bookkeeping -------------------------------------------------------------------------
    def report(self, rows: int) -> None:
        """Count settled rows; tell `progress` at most every PROGRESS_INTERVAL_S, and at the end."""
        self.done_rows += rows
        if self.progress is None or not rows:
            return
        now = time.monotonic()
        total = len(self.emails)
        if self.done_rows == total or now - self.last_report >= PROGRESS_INTERVAL_S:
            self.last_report = now
            self.progress(self.done_rows, total)

    def settle(self, index: int, verdict: Verification) -> None:
        self.verdicts[index] = verdict
        if self.cache is not None and verdict.cacheable and not verdict.from_cache:
            self.unsaved.append(verdict)
            if len(self.unsaved) >= CACHE_CHUNK:
                self.save()
        self.report(self.rows_of[index])

    def save(self) -> None:
        if self.cache is not None and self.unsaved:
            rows, self.unsaved = self.unsaved, []
            self.cache.put_many([verdict.cache_row() for verdict in rows])

    # -- layers ------------------------------------------------------------------------------
    def parse(self) -> None:
        """Syntax for every distinct input string; mailboxes numbered in first-seen order."""
        parsed_inputs: dict[str, int] = {}
        index_of: dict[str, int] = {}
        invalid_rows = 0
        for email in self.emails:
            if not isinstance(email, str):
                self.row_mailbox.append(-1)
                invalid_rows += 1
                continue
            index = parsed_inputs.get(email)
            if index is None:
                parsed = parse_address(email)
                if parsed is None:
                    index = -1
                else:
                    index = index_of.get(parsed.email_normalized)
                    if index is None:
                        index = index_of[parsed.email_normalized] = len(self.mailboxes)
                        self.mailboxes.append(parsed)
                        self.rows_of.append(0)
                if len(email) <= 1_000:  # do not keep megabyte strings alive as keys
                    parsed_inputs[email] = index
            self.row_mailbox.append(index)
            if index < 0:
                invalid_rows += 1
            else:
                self.rows_of[index] += 1
        self.verdicts = [None] * len(self.mailboxes)
        self.stats.addresses = len(self.emails)
        self.stats.unique_mailboxes = len(self.mailboxes)
        self.report(invalid_rows)

    def use_cache(self) -> list[int]:
        """Reuse fresh cached verdicts; returns the mailboxes still to verify."""
        if self.cache is not None and self.mailboxes:
            keys = [mailbox.email_normalized for mailbox in self.mailboxes]
            hits = self.cache.get_many(keys)
            self.stats.cache_hits = len(hits)
            # settled here rather than through `settle`: a hit is never stored again, and the
            # rows it answers are reported once for the lot
            rows = 0
            for index, key in enumerate(keys):
                row = hits.get(key)
                if row is not None:
                    self.verdicts[index] = Verification.from_cache_row(key, row)
                    rows += self.rows_of[index]
            self.report(rows)
        return [index for index, verdict in enumerate(self.verdicts) if verdict is None]

    def base(self, mailbox: ParsedAddress) -> Verification:
        """The verdict-to-be with the list flags and suggestion filled in."""
        suggestion = None
        if self.settings.suggest_typos:
            suggestion = suggest_email(mailbox.local_part, mailbox.domain)
        return Verification(
            email_normalized=mailbox.email_normalized,
            status=UNKNOWN,
            reason="skipped",
            checked_at=self.started,
            is_disposable=lists.is_disposable(mailbox.domain),
            is_role=lists.is_role(mailbox.local_part),
            is_free=lists.is_free(mailbox.domain),
            suggestion=suggestion,
        )

    async def run(self) -> None:
        self.parse()
        todo = self.use_cache()
        by_domain: dict[str, list[tuple[int, Verification]]] = defaultdict(list)
        for index in todo:
            mailbox = self.mailboxes[index]
            by_domain[mailbox.domain].append((index, self.base(mailbox)))
        self.stats.unique_domains = len(by_domain)
        if not self.settings.check_dns:
            for entries in by_domain.values():
                self.finish_domain(entries, None)
            return
        resolver = DomainResolver(self.settings)
        self.stats.dns = resolver.stats
        domains = list(by_domain)
        canaries = self.settings.canaries if domains else ()
        found = await asyncio.gather(*(resolver.lookup(name) for name in (*canaries, *domains)))
        checks, results = found[: len(canaries)], found[len(canaries) :]
        if canaries:
            self.stats.canaries = {
                name: result.status for name, result in zip(canaries, checks, strict=True)
            }
            self.stats.dns_reliable = resolver_trustworthy(list(checks))
            if not self.stats.dns_reliable:
                for entries in by_domain.values():
                    self.finish_domain(entries, DNS_UNRELIABLE)
                return
        routes: dict[tuple[str, ...], list[tuple[DomainResult, list]]] = defaultdict(list)
        for domain, result in zip(domains, results, strict=True):
            mx_host = result.mx_host
            entries = [(index, replace(base, mx_host=mx_host)) for index, base in by_domain[domain]]
            needs_smtp = [entry for entry in entries if not entry[1].is_disposable]
            if result.status != OK or not self.settings.check_smtp or not needs_smtp:
                self.finish_domain(entries, result.status)
                continue
            if len(needs_smtp) < len(entries):
                self.finish_domain([e for e in entries if e[1].is_disposable], result.status)
            route = tuple(address for _, address in result.targets)
            routes[route].append((result, needs_smtp))
        prober = SmtpProber(self.settings)
        self.stats.smtp = prober.stats
        await asyncio.gather(*(self.probe_route(group, prober) for group in routes.values()))

    def finish_domain(
        self, entries: list[tuple[int, Verification]], dns_status: str | None
    ) -> None:
        now = _now()
        for index, base in entries:
            verdict = combine(base, dns_status=dns_status)
            self.settle(index, replace(verdict, checked_at=now))

    async def probe_route(
        self, group: list[tuple[DomainResult, list[tuple[int, Verification]]]], prober: SmtpProber
    ) -> None:
        """Probe every address of the domains sharing one route, then settle them."""
        targets = group[0][0].targets
        probes: list[Probe] = []
        plan: list[tuple[Probe | None, list[tuple[int, Verification, Probe]]]] = []
        names: list[dict[str, str]] = []
        for result, entries in group:
            names.append({address: host for host, address in reversed(result.targets)})
            domain = self.mailboxes[entries[0][0]].domain
            test = None
            if self.settings.check_catch_all:
                # A local part no one has: accepted means the server accepts anything.
                test = Probe(f"{secrets.token_hex(10)}@{domain}", domain, catch_all_test=True)
                probes.append(test)
            domain_probes = []
            for index, base in entries:
                mailbox = self.mailboxes[index]
                probe = Probe(mailbox.rcpt_address, domain, smtputf8=mailbox.smtputf8)
                probes.append(probe)
                domain_probes.append((index, base, probe))
            plan.append((test, domain_probes))
        await prober.probe_route(targets, probes)
        now = _now()
        for (test, domain_probes), host_of in zip(plan, names, strict=True):
            catch_all = (
                test is not None and test.verdict is not None and test.verdict.reason == "accepted"
            )
            for index, base, probe in domain_probes:
                verdict = probe.verdict
                assert verdict is not None, "the prober decides every probe"
                combined = combine(
                    replace(
                        base,
                        mx_host=host_of.get(probe.mx_address or "", base.mx_host),
                        smtp_code=probe.code,
                    ),
                    dns_status=OK,
                    smtp_status=verdict.status,
                    smtp_reason=verdict.reason,
                    catch_all=catch_all,
                )
                self.settle(index, replace(combined, checked_at=now))

    def frame(self) -> pl.DataFrame:
        seen: set[str] = set()
        rows: list[Verification] = []
        billable: list[bool] = []
        no_address = invalid(self.started)
        for email, index in zip(self.emails, self.row_mailbox, strict=True):
            verdict = no_address if index < 0 else self.verdicts[index]
            assert verdict is not None, "every mailbox is settled before the frame is built"
            key = dedup_key(email) if isinstance(email, str) else None
            first = key is not None and key not in seen
            if key is not None:
                seen.add(key)
            rows.append(verdict)
            billable.append(first and verdict.status != UNKNOWN)
        return to_frame(self.emails, rows, billable)


async def averify_emails(
    emails: Iterable[str | None],
    settings: VerificationSettings | None = None,
    *,
    progress: Progress | None = None,
    cache: ResultCache | None = None,
    stats: BatchStats | None = None,
) -> pl.DataFrame:
    """Verify a batch; one `Verifications` row per input, in input order.

    `progress(done, total)` is called as rows are settled (at most 5 times a second, and always
    with done == total at the end); `stats`, when given, is filled with what the batch cost
    (DNS queries, SMTP connections and RCPTs).
    """
    batch = _Batch(
        list(emails), settings or VerificationSettings(), progress, cache, stats or BatchStats()
    )
    try:
        await batch.run()
    finally:
        batch.save()  # whatever was settled survives an error or a cancellation
    return batch.frame()


def verify_emails(
    emails: Iterable[str | None],
    settings: VerificationSettings | None = None,
    *,
    progress: Progress | None = None,
    cache: ResultCache | None = None,
    stats: BatchStats | None = None,
) -> pl.DataFrame:
    """`averify_emails` for synchronous callers (Dagster assets, the CLI).

    Runs its own event loop; from inside a running loop (a notebook, an async framework) it
    uses a helper thread, since a loop cannot be nested.
    """
    return run_sync(averify_emails(emails, settings, progress=progress, cache=cache, stats=stats))

"""Layer 5: the SMTP probe (RCPT TO without DATA), many recipients per session.

Written on asyncio streams rather than aiosmtplib because the probe needs what a mail client
library hides: pipelining the RCPTs when the server offers PIPELINING (RFC 2920), reading every
reply of a pipelined group in order, stopping at a recipient cap without losing track of which
recipients were answered, and a per-session deadline around the whole exchange.

How a batch reaches the servers:

- Probes are grouped by *route*: the tuple of MX addresses, in preference order, of a domain.
  Domains that share a route (every Google Workspace company, every tenant behind one Microsoft
  365 address) share sessions, so one connection verifies up to `max_recipients_per_session`
  addresses whatever their domain. One MAIL transaction per session: no DATA is ever sent.
- A session connects to the route's addresses in preference order and moves on when one
  refuses, times out or answers 421/4xx at the banner; only then does it give up on the session.
- `452 4.5.3 Too many recipients`: the unanswered recipients go back to the route's queue and
  every later session of that route carries at most as many as the server took.
- Greylisting (450/451/4.7.x): the recipient is retried in a later session after the delay the
  server states (else `greylist_default_delay_s`), as long as that lands within
  `greylist_budget_s` of the first greylisting seen in the batch; otherwise it stays `greylisted`.
- A "no such mailbox" only counts when the server shows, in the same session, that it tells
  mailboxes apart: another address of the domain was accepted, or else `postmaster@<domain>`
  (RFC 5321 section 4.5.1 requires it) is asked, once per domain per session at most, after the
  session's other recipients. Postmaster refused too -> unknown `rejects_all`; greylisted ->
  the address is retried like any greylisted one; the session ended first -> unknown.
- Sessions are bounded overall (`concurrency`) and per MX address (`concurrency_per_host`);
  the per-address slot is taken first so a busy provider cannot hold overall slots idle.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import re
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

from ac_hygiene.verification.replies import (
    DELIVERABLE,
    UNKNOWN,
    Verdict,
    classify_rcpt,
    classify_session,
    retry_delay,
)
from ac_hygiene.verification.settings import VerificationSettings

_REPLY_CODE = re.compile(r"[0-9]{3}(?:[ -]|$)")
_MAX_REPLY_LINE = 4096
_MAX_REPLY_LINES = 100
_GREYLIST_MARGIN_S = 0.05
_MAX_GREYLIST_TRIES = 4
_MAX_CONFIRM_DEFERRALS = 2
NOT_FOUND = "mailbox_not_found"


@dataclass(eq=False, slots=True)
class Probe:
    """One RCPT TO to send: a real address, or a random one of a domain (catch-all test)."""

    address: str  # local@ascii-domain, as sent
    domain: str
    smtputf8: bool = False
    catch_all_test: bool = False
    verdict: Verdict | None = None
    code: int | None = None
    mx_host: str | None = None  # the route's name for the server that answered
    mx_address: str | None = None  # its address (domains sharing a route name hosts apart)
    tries: int = 0
    retry_at: float = 0.0
    # A "no such mailbox" not yet backed by the server accepting some address of the domain.
    unconfirmed: bool = False
    confirm_deferrals: int = 0  # sessions too full to ask postmaster@ (recipient cap)


@dataclass
class SmtpStats:
    """What the prober did, for benchmarks and the multi-RCPT tests."""

    connections: int = 0
    sessions: int = 0
    rcpts: int = 0
    greylist_retries: int = 0
    too_many_splits: int = 0
    postmaster_checks: int = 0  # extra RCPT TO:<postmaster@domain>, at most one per domain/session
    by_host: dict[str, int] = field(default_factory=dict)


class _SessionEnded(Exception):
    """The server closed the connection or answered garbage: the session cannot go on."""

    def __init__(self, message: str, reason: str = "smtp_unavailable"):
        super().__init__(message)
        self.reason = reason


@dataclass(slots=True)
class _Reply:
    code: int
    lines: list[str]

    @property
    def text(self) -> str:
        return " ".join(self.lines).strip()


class _Connection:
    """One SMTP client connection: write commands, read (multi-line) replies with a deadline."""

    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, command_timeout: float
    ):
        self._reader = reader
        self._writer = writer
        self._timeout = command_timeout

    async def send(self, *lines: str) -> None:
        self._writer.write("".join(f"{line}\r\n" for line in lines).encode("utf-8"))
        await asyncio.wait_for(self._writer.drain(), self._timeout)

    async def reply(self) -> _Reply:
        return await asyncio.wait_for(self._read_reply(), self._timeout)

    async def _read_reply(self) -> _Reply:
        texts: list[str] = []
        for _ in range(_MAX_REPLY_LINES):
            try:
                raw = await self._reader.readuntil(b"\n")
            except asyncio.IncompleteReadError as error:
                raise _SessionEnded("connection closed by the server") from error
            except asyncio.LimitOverrunError as error:
                raise _SessionEnded("reply line too long", "smtp_error") from error
            line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
            # ASCII digits only: str.isdigit() also takes "²" (int() raises) or "٢" (another code).
            if _REPLY_CODE.match(line) is None:
                raise _SessionEnded(f"not an SMTP reply: {line[:80]!r}", "smtp_error")
            texts.append(line[4:])
            if line[3:4] != "-":
                return _Reply(int(line[:3]), texts)
        raise _SessionEnded("reply with too many lines", "smtp_error")

    async def close(self, quit_timeout: float) -> None:
        try:
            with contextlib.suppress(Exception):
                self._writer.write(b"QUIT\r\n")
                await asyncio.wait_for(self._read_reply(), quit_timeout)
        finally:
            # Even when cancelled while waiting for the QUIT reply: the socket must not outlive
            # the session (it stays registered with the loop until closed).
            self._writer.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._writer.wait_closed(), quit_timeout)


@dataclass(slots=True)
class _SessionResult:
    leftovers: list[Probe] = field(default_factory=list)  # not answered: another session
    greylisted: list[Probe] = field(default_factory=list)
    cap: int | None = None  # recipients the server took before "too many recipients"


class SmtpProber:
    """Probes recipients on the routes of one batch, sharing limits and the greylist budget."""

    def __init__(self, settings: VerificationSettings):
        self._settings = settings
        self._overall = asyncio.Semaphore(settings.concurrency)
        self._per_host: dict[str, asyncio.Semaphore] = {}
        self._greylist_deadline: float | None = None
        self.stats = SmtpStats()

    async def probe_route(
        self, targets: Sequence[tuple[str, str]], probes: Sequence[Probe]
    ) -> None:
        """Give every probe a verdict (in place), talking to `targets` = (host, address) pairs."""
        targets = tuple(targets)[: self._settings.max_mx_addresses]
        pending = list(probes)
        cap = self._settings.max_recipients_per_session
        while pending:
            greylisted, cap = await self._pass(targets, pending, cap)
            pending = self._schedule_retries(greylisted)
            if pending:
                wait = max(probe.retry_at for probe in pending) - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
        for probe in probes:
            if probe.unconfirmed:
                # The session ended before the server could show it tells mailboxes apart.
                probe.unconfirmed = False
                probe.verdict = Verdict(UNKNOWN, "smtp_error")

    def _schedule_retries(self, greylisted: list[Probe]) -> list[Probe]:
        """Greylisted probes that may retry within the budget; the others keep `greylisted`."""
        if not greylisted:
            return []
        now = time.monotonic()
        if self._greylist_deadline is None:
            self._greylist_deadline = now + self._settings.greylist_budget_s
        retry = []
        for probe in greylisted:
            if probe.tries < _MAX_GREYLIST_TRIES and probe.retry_at <= self._greylist_deadline:
                retry.append(probe)
                self.stats.greylist_retries += 1
        return retry

    async def _pass(
        self, targets: tuple[tuple[str, str], ...], probes: list[Probe], cap: int
    ) -> tuple[list[Probe], int]:
        """Run sessions until every probe has a verdict or waits for a greylist retry."""
        queue = deque(probes)
        greylisted: list[Probe] = []
        state = {"cap": cap}

        async def worker() -> None:
            while queue:
                size = state["cap"]
                chunk = [queue.popleft() for _ in range(min(size, len(queue)))]
                result = await self._session(targets, chunk)
                greylisted.extend(result.greylisted)
                if result.cap is not None and result.cap < state["cap"]:
                    state["cap"] = max(1, result.cap)
                    self.stats.too_many_splits += 1
                queue.extendleft(reversed(result.leftovers))

        workers = min(self._settings.concurrency_per_host, math.ceil(len(probes) / cap))
        await asyncio.gather(*(worker() for _ in range(max(1, workers))))
        return greylisted, state["cap"]

    def _host_limit(self, address: str) -> asyncio.Semaphore:
        limit = self._per_host.get(address)
        if limit is None:
            limit = self._per_host[address] = asyncio.Semaphore(self._settings.concurrency_per_host)
        return limit

    async def _session(
        self, targets: tuple[tuple[str, str], ...], chunk: list[Probe]
    ) -> _SessionResult:
        """One session on the first target that talks; verdicts are set on `chunk` in place."""
        settings = self._settings
        for probe in chunk:
            probe.verdict = probe.code = probe.mx_address = None
            probe.unconfirmed = False
        failure = Verdict(UNKNOWN, "smtp_unavailable")
        host = targets[0][0] if targets else None
        for host, address in targets:
            async with self._host_limit(address), self._overall:
                try:
                    reader, writer = await asyncio.wait_for(
                        asyncio.open_connection(address, settings.smtp_port, limit=65536),
                        settings.smtp_connect_timeout_s,
                    )
                except TimeoutError:
                    failure = Verdict(UNKNOWN, "smtp_timeout")
                    continue
                except OSError:
                    failure = Verdict(UNKNOWN, "smtp_unavailable")
                    continue
                self.stats.connections += 1
                self.stats.by_host[host] = self.stats.by_host.get(host, 0) + 1
                for probe in chunk:
                    probe.mx_address = address
                connection = _Connection(reader, writer, settings.smtp_command_timeout_s)
                result = _SessionResult()
                try:
                    async with asyncio.timeout(settings.smtp_session_timeout_s):
                        moved_on = await self._converse(connection, host, chunk, result)
                except TimeoutError:
                    return self._finish(chunk, host, Verdict(UNKNOWN, "smtp_timeout"), result)
                except _SessionEnded as error:
                    return self._finish(chunk, host, Verdict(UNKNOWN, error.reason), result)
                except OSError:
                    return self._finish(chunk, host, Verdict(UNKNOWN, "smtp_unavailable"), result)
                finally:
                    await connection.close(min(1.0, settings.smtp_command_timeout_s))
                if moved_on is None:
                    return self._finish(chunk, host, Verdict(UNKNOWN, "smtp_error"), result)
                # The server would not talk (421 or 4xx greeting): the next MX may.
                failure = moved_on
        return self._finish(chunk, host, failure, _SessionResult())

    def _finish(
        self, chunk: list[Probe], host: str | None, verdict: Verdict, result: _SessionResult
    ) -> _SessionResult:
        """Give `verdict` to every probe of the chunk the session left undecided."""
        if result.cap == 0:
            # Refused even the first recipient as "too many": not a cap, a broken server.
            result.leftovers, result.cap = [], None
        waiting = {id(probe) for probe in result.leftovers}
        for probe in chunk:
            if probe.verdict is None and id(probe) not in waiting:
                if verdict.retry:
                    # A greylisting greeting names no recipient: wait the default delay, not 0.
                    probe.retry_at = time.monotonic() + self._settings.greylist_default_delay_s
                self._decide(probe, verdict, None, host, result)
        return result

    def _decide(
        self,
        probe: Probe,
        verdict: Verdict,
        code: int | None,
        host: str | None,
        result: _SessionResult,
    ) -> None:
        probe.verdict, probe.code, probe.mx_host = verdict, code, host
        probe.unconfirmed = verdict.reason == NOT_FOUND and not probe.catch_all_test
        if verdict.retry:
            probe.tries += 1
            result.greylisted.append(probe)

    async def _converse(
        self, connection: _Connection, host: str, chunk: list[Probe], result: _SessionResult
    ) -> Verdict | None:
        """Banner, EHLO, MAIL FROM, the RCPTs; a Verdict returned means "try the next MX"."""
        settings = self._settings
        self.stats.sessions += 1
        banner = await connection.reply()
        if banner.code != 220:
            if 400 <= banner.code < 500:
                return classify_session(banner.code, banner.text, settings.sender)
            self._whole_session(chunk, host, banner, result)
            return None
        await connection.send(f"EHLO {settings.helo_name}")
        hello = await connection.reply()
        extensions: set[str] = set()
        if hello.code == 250:
            extensions = {line.split(" ")[0].upper() for line in hello.lines[1:] if line}
        else:
            await connection.send(f"HELO {settings.helo_name}")
            hello = await connection.reply()
            if hello.code != 250:
                self._whole_session(chunk, host, hello, result)
                return None
        utf8 = "SMTPUTF8" in extensions
        options = " SMTPUTF8" if utf8 and any(probe.smtputf8 for probe in chunk) else ""
        await connection.send(f"MAIL FROM:<{settings.sender}>{options}")
        mail = await connection.reply()
        if mail.code != 250:
            self._whole_session(chunk, host, mail, result)
            return None

        sendable = []
        for probe in chunk:
            if probe.smtputf8 and not utf8:
                # RFC 6531: a non-ASCII mailbox cannot be named to a server without SMTPUTF8.
                self._decide(probe, Verdict(UNKNOWN, "smtp_error"), None, host, result)
            else:
                sendable.append(probe)
        pipelining = "PIPELINING" in extensions
        if pipelining:
            await connection.send(*(f"RCPT TO:<{probe.address}>" for probe in sendable))
            await self._read_rcpt_replies(connection, host, sendable, result)
        else:
            for index, probe in enumerate(sendable):
                await connection.send(f"RCPT TO:<{probe.address}>")
                await self._read_rcpt_replies(connection, host, [probe], result, answered=index)
                if result.cap is not None:
                    result.leftovers.extend(sendable[index + 1 :])
                    break
        await self._confirm_not_found(connection, host, sendable, result, pipelining)
        return None

    async def _confirm_not_found(
        self,
        connection: _Connection,
        host: str,
        probes: list[Probe],
        result: _SessionResult,
        pipelining: bool,
    ) -> None:
        """Keep a "no such mailbox" only if this session saw the server accept the domain's mail.

        Another accepted address of the domain is enough; else one RCPT to postmaster@ per
        domain (see the module docstring). No DATA follows, so nothing is ever delivered.
        """
        accepted = {
            probe.domain
            for probe in probes
            if not probe.catch_all_test
            and probe.verdict is not None
            and probe.verdict.status == DELIVERABLE
        }
        pending: dict[str, list[Probe]] = {}
        for probe in probes:
            if not probe.unconfirmed:
                continue
            if probe.domain in accepted:
                probe.unconfirmed = False
            else:
                pending.setdefault(probe.domain, []).append(probe)
        if not pending:
            return
        domains = list(pending)
        self.stats.postmaster_checks += len(domains)
        replies: list[_Reply] = []
        if pipelining:
            await connection.send(*(f"RCPT TO:<postmaster@{domain}>" for domain in domains))
            for _ in domains:
                replies.append(await connection.reply())
        else:
            for domain in domains:
                await connection.send(f"RCPT TO:<postmaster@{domain}>")
                replies.append(await connection.reply())
        taken = sum(1 for probe in probes if probe.verdict is not None)
        for domain, reply in zip(domains, replies, strict=True):
            self.stats.rcpts += 1
            verdict = classify_rcpt(reply.code, reply.text, self._settings.sender)
            for probe in pending[domain]:
                probe.unconfirmed = False
                if verdict.status == DELIVERABLE:
                    continue  # the server tells mailboxes apart: the rejection stands
                if verdict.too_many:
                    self._defer_confirmation(probe, host, result, taken - len(domains))
                elif verdict.retry:
                    delay = retry_delay(reply.text)
                    if delay is None:
                        delay = self._settings.greylist_default_delay_s
                    probe.retry_at = time.monotonic() + delay + _GREYLIST_MARGIN_S
                    greylisted = Verdict(UNKNOWN, "greylisted", retry=True)
                    self._decide(probe, greylisted, reply.code, host, result)
                elif 500 <= reply.code < 600 and verdict.reason in (NOT_FOUND, "smtp_error"):
                    probe.verdict = Verdict(UNKNOWN, "rejects_all")  # postmaster refused too
                elif verdict.status == UNKNOWN:
                    # 421, a block, a sender check...: no proof either way, and the reason says why.
                    probe.verdict = Verdict(UNKNOWN, verdict.reason)
                else:
                    probe.verdict = Verdict(UNKNOWN, "rejects_all")

    def _defer_confirmation(
        self, probe: Probe, host: str, result: _SessionResult, room: int
    ) -> None:
        """The recipient cap left no room for postmaster@: probe again in a smaller session."""
        probe.confirm_deferrals += 1
        if probe.confirm_deferrals > _MAX_CONFIRM_DEFERRALS:
            self._decide(probe, Verdict(UNKNOWN, "smtp_error"), None, host, result)
            probe.unconfirmed = False
            return
        probe.verdict = None
        result.leftovers.append(probe)
        room = max(1, room)
        result.cap = room if result.cap is None else min(result.cap, room)

    async def _read_rcpt_replies(
        self,
        connection: _Connection,
        host: str,
        probes: list[Probe],
        result: _SessionResult,
        answered: int = 0,
    ) -> None:
        """Read one reply per probe, in order, and decide each (or set it aside for later)."""
        for probe in probes:
            reply = await connection.reply()
            self.stats.rcpts += 1
            verdict = classify_rcpt(reply.code, reply.text, self._settings.sender)
            if verdict.too_many:
                result.leftovers.append(probe)
                if result.cap is None:
                    result.cap = answered
                continue
            answered += 1
            if verdict.retry:
                delay = retry_delay(reply.text)
                if delay is None:
                    delay = self._settings.greylist_default_delay_s
                probe.retry_at = time.monotonic() + delay + _GREYLIST_MARGIN_S
            self._decide(probe, verdict, reply.code, host, result)
            if reply.code == 421:
                raise _SessionEnded("421 during RCPT: the server is closing the session")

    def _whole_session(
        self, chunk: list[Probe], host: str, reply: _Reply, result: _SessionResult
    ) -> None:
        """Banner, EHLO or MAIL FROM refused: the reply speaks for every recipient."""
        verdict = classify_session(reply.code, reply.text, self._settings.sender)
        for probe in chunk:
            if verdict.retry:
                probe.retry_at = time.monotonic() + self._settings.greylist_default_delay_s
            self._decide(probe, verdict, reply.code, host, result)

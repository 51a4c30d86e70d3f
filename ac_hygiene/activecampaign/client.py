"""The async ActiveCampaign API v3 client: paced, retried, classified.

One `httpx.AsyncClient` per connection (HTTP/1.1 keep-alive). Every request first takes a slot
from the account-wide limiter (see `limiter`), then its failures are sorted into:

* throttles (429 with `Retry-After`, the bulk import's 400 "Rate limit exceeded."): the whole
  account pauses, then the request is retried; the server did not process it, so this is safe
  for every method;
* transient failures (503 / other 5xx, timeouts, dropped connections, truncated JSON): retried
  with full-jitter backoff, but only for requests that are safe to repeat (see below);
* errors to report (402 AccountInactive, 403 AuthenticationFailed after one retry, 403 "No Result
  found" and 404 NotFound, 422 ValidationFailed), never retried.

Which requests are safe to repeat after an uncertain outcome: GET, PUT and DELETE (idempotent by
HTTP semantics; DELETE of a gone record answers 404), and the writes that set a state rather than
add one, which `writes` marks `idempotent=True` (list status, tag, field value). Other POSTs, bulk
import in particular (a second batch would run automations again), are retried only when the
request certainly did not reach the server: connect errors and throttles. After a timeout or a 5xx
they raise `WriteOutcomeUnknown` so that the caller reconciles first.

Redirects are never followed: the `Api-Token` header would follow them to another host.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any, NoReturn

import httpx

from ac_hygiene.activecampaign.credentials import Connection
from ac_hygiene.activecampaign.errors import (
    AccountInactive,
    ActiveCampaignError,
    AuthenticationFailed,
    NotFound,
    RetriesExhausted,
    UnexpectedResponse,
    Unreachable,
    ValidationFailed,
    WriteOutcomeUnknown,
)
from ac_hygiene.activecampaign.limiter import (
    DEFAULT_BURST,
    DEFAULT_RATE,
    RateLimiter,
    account_limiter,
    bulk_import_limiter,
)
from ac_hygiene.activecampaign.retry import (
    Backoff,
    error_message,
    is_bulk_rate_limited,
    is_missing_record_403,
    parse_json_body,
    parse_retry_after,
)

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = httpx.Timeout(60.0, connect=10.0)
_IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE"})
_USER_AGENT = "ac-hygiene/0.1 (+httpx)"


@dataclass
class ClientStats:
    """What the client did; the benchmark and the Dagster metadata report it."""

    requests: int = 0  # HTTP requests sent, retries included
    responses: int = 0
    retries: int = 0
    http_429: int = 0
    http_5xx: int = 0
    transport_errors: int = 0  # timeouts, dropped connections, truncated bodies
    bytes_sent: int = 0
    bytes_received: int = 0
    throttled_s: float = 0.0  # time spent waiting for the limiter or a Retry-After

    def as_dict(self) -> dict[str, float | int]:
        return dict(self.__dict__)


class _Retry(Exception):
    """Internal: this attempt failed in a way that may be retried."""

    def __init__(self, reason: str, *, throttled: bool = False, unreachable: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.throttled = throttled  # the limiter was paused: that pause is the wait
        self.unreachable = unreachable


def _is_dns_failure(exc: BaseException) -> bool:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, socket.gaierror):
            return True
        current = current.__cause__ or current.__context__
    return False


class ActiveCampaignClient:
    """`async with ActiveCampaignClient(connection) as client: await client.get("/users/me")`."""

    def __init__(
        self,
        connection: Connection,
        *,
        rate: float = DEFAULT_RATE,
        burst: int = DEFAULT_BURST,
        max_retries: int = 6,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: httpx.Timeout | float = DEFAULT_TIMEOUT,
        backoff: Backoff | None = None,
    ) -> None:
        if max_retries < 0:
            raise ValueError("max_retries must be >= 0")
        self.connection = connection
        self.max_retries = max_retries
        self.limiter: RateLimiter = account_limiter(connection.api_url, rate, burst)
        self.bulk_import_limiter: RateLimiter = bulk_import_limiter(connection.api_url)
        self.backoff = backoff or Backoff()
        self.stats = ClientStats()
        self._http = httpx.AsyncClient(
            base_url=f"{connection.api_url}/api/3/",
            headers={
                "Api-Token": connection.api_key.reveal(),
                "Accept": "application/json",
                "User-Agent": _USER_AGENT,
            },
            timeout=timeout,
            transport=transport,
            follow_redirects=False,
            http1=True,
            http2=False,
            limits=httpx.Limits(max_connections=10, max_keepalive_connections=5),
        )

    def __repr__(self) -> str:
        return f"ActiveCampaignClient({self.connection!r})"

    async def __aenter__(self) -> ActiveCampaignClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    # -- verbs -----------------------------------------------------------------------------

    async def get(self, path: str, *, params: dict[str, Any] | None = None) -> Any:
        return await self.request("GET", path, params=params)

    async def post(
        self,
        path: str,
        *,
        json: Any = None,
        params: dict[str, Any] | None = None,
        idempotent: bool = False,
        extra_limiter: RateLimiter | None = None,
    ) -> Any:
        """POST; `idempotent=True` only for writes that set a state (safe to send twice)."""
        return await self.request(
            "POST",
            path,
            params=params,
            json=json,
            idempotent=idempotent,
            extra_limiter=extra_limiter,
        )

    async def put(self, path: str, *, json: Any = None) -> Any:
        return await self.request("PUT", path, json=json)

    async def delete(self, path: str) -> Any:
        return await self.request("DELETE", path)

    # -- the loop --------------------------------------------------------------------------

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
        idempotent: bool | None = None,
        extra_limiter: RateLimiter | None = None,
    ) -> Any:
        """Send one API request with pacing and retries; return the parsed JSON body."""
        method = method.upper()
        if idempotent is None:
            idempotent = method in _IDEMPOTENT_METHODS
        where = f"{method} /api/3/{path.lstrip('/')}"
        url = path.lstrip("/")
        retries = 0
        auth_retried = False
        while True:
            # The extra (bulk import) limiter first: its wait can be long (a minute's quota, a
            # pause), and an account slot taken before it would be stale by the time the request
            # goes out, sending it on top of the account's paced traffic.
            for limiter in (extra_limiter, self.limiter):
                if limiter is not None:
                    self.stats.throttled_s += await limiter.acquire()
            try:
                return await self._attempt(
                    method,
                    url,
                    where,
                    params=params,
                    json=json,
                    idempotent=idempotent,
                    extra_limiter=extra_limiter,
                    auth_retried=auth_retried,
                )
            except _Retry as failed:
                retry = failed
            # Decided outside the `except` block: the error raised carries no __context__.
            if retry.reason == "403":
                auth_retried = True
                delay = self.backoff.delay(0)
            else:
                if retries >= self.max_retries:
                    cls = Unreachable if retry.unreachable else RetriesExhausted
                    raise cls(
                        self._scrub(
                            f"{where}: {retry.reason}; gave up after "
                            f"{retries + 1} attempts"
                            + (
                                f". Check that {self.connection.api_url} is reachable."
                                if retry.unreachable
                                else ""
                            )
                        )
                    )
                delay = 0.0 if retry.throttled else self.backoff.delay(retries)
                retries += 1
            self.stats.retries += 1
            log.info(
                "%s: %s; retry %d/%d in %.2f s",
                where,
                retry.reason,
                retries,
                self.max_retries,
                delay,
            )
            if delay > 0:
                await asyncio.sleep(delay)

    async def _attempt(
        self,
        method: str,
        url: str,
        where: str,
        *,
        params: dict[str, Any] | None,
        json: Any,
        idempotent: bool,
        extra_limiter: RateLimiter | None,
        auth_retried: bool,
    ) -> Any:
        self.stats.requests += 1
        request = self._http.build_request(method, url, params=params, json=json)
        self.stats.bytes_sent += len(request.content or b"")
        response = await self._send(request)
        # Transport failures are handled outside any `except` block so that no exception raised
        # here carries the transport exception (or the request) along as its __context__.
        if isinstance(response, httpx.RequestError):
            self.stats.transport_errors += 1
            self._raise_for_transport_failure(response, where, idempotent)

        content = response.content
        self.stats.responses += 1
        self.stats.bytes_received += len(content)
        status = response.status_code

        if 200 <= status < 300:
            body = _parse_or_none(content)
            if body is not _UNPARSEABLE:
                return body
            self.stats.transport_errors += 1
            if idempotent:
                raise _Retry(f"HTTP {status} with a truncated or non-JSON body")
            raise WriteOutcomeUnknown(
                f"{where}: HTTP {status} but the answer was unreadable; the write was "
                "probably applied. Read the record back before retrying.",
                status=status,
            )

        message = self._scrub(error_message(content, self._scrub))
        detail = f"{where}: HTTP {status}" + (f" ({message})" if message else "")

        if status == 429:
            self.stats.http_429 += 1
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            self.limiter.pause(retry_after if retry_after is not None else 1.0)
            raise _Retry("HTTP 429 (rate limited)", throttled=True)
        if is_bulk_rate_limited(status, content):
            # The window is a minute; without a Retry-After, wait a good part of it.
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            (extra_limiter or self.limiter).pause(retry_after if retry_after is not None else 20.0)
            raise _Retry("HTTP 400 bulk import rate limit exceeded", throttled=True)
        if status == 402:
            raise AccountInactive(
                f"{where}: HTTP 402: the ActiveCampaign account's plan is inactive. Reactivate "
                "the account (Settings → Billing) and run again.",
                status=status,
            )
        if status == 403:
            if is_missing_record_403(content):
                raise NotFound(detail, status=status)
            if not auth_retried:
                # The API answers 403 intermittently; one retry tells that from a refused key.
                raise _Retry("403")
            raise AuthenticationFailed(message, status=status)
        if status == 401:
            raise AuthenticationFailed(message, status=status)
        if status == 404:
            raise NotFound(detail, status=status)
        if status == 422:
            raise ValidationFailed(detail, status=status, failure_reasons=self._errors_of(content))
        if status >= 500:
            self.stats.http_5xx += 1
            if idempotent:
                retry_after = parse_retry_after(response.headers.get("Retry-After"))
                if status == 503 and retry_after is not None:
                    # Older API versions throttle bursts with 503: pause the account like a 429.
                    self.limiter.pause(retry_after)
                    raise _Retry(f"HTTP {status} (throttled)", throttled=True)
                raise _Retry(f"HTTP {status}")
            raise WriteOutcomeUnknown(
                f"{detail}: the write may or may not have been applied. Read the record back "
                "before retrying.",
                status=status,
            )
        if 300 <= status < 400:
            raise UnexpectedResponse(
                f"{where}: HTTP {status} redirect, not followed (it would carry the API key "
                f"elsewhere). Check the API URL: {self.connection.api_url}.",
                status=status,
            )
        if status == 400:
            raise ValidationFailed(detail, status=status, failure_reasons=self._errors_of(content))
        raise UnexpectedResponse(detail, status=status)

    async def _send(self, request: httpx.Request) -> httpx.Response | httpx.RequestError:
        try:
            return await self._http.send(request)
        except (httpx.TransportError, httpx.DecodingError) as exc:
            # DecodingError: the body could not be decompressed (a cut or corrupt gzip stream),
            # the same failure as a truncated JSON body; it is raised while the body is read.
            return exc

    def _raise_for_transport_failure(
        self, exc: httpx.RequestError, where: str, idempotent: bool
    ) -> NoReturn:
        name = type(exc).__name__
        if isinstance(exc, httpx.DecodingError):
            if idempotent:
                raise _Retry(f"{name} (unreadable body)")
            raise WriteOutcomeUnknown(
                f"{where}: the answer was unreadable ({name}); the write was probably applied. "
                "Read the record back before retrying."
            )
        if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout):
            if _is_dns_failure(exc):
                raise Unreachable(
                    f"{where}: the host of {self.connection.api_url} does not resolve (DNS). "
                    "Check the API URL in Settings → Developer."
                )
            # Nothing reached the server: safe to retry whatever the method.
            raise _Retry(f"cannot connect ({name})", unreachable=True)
        if isinstance(exc, httpx.TimeoutException | httpx.NetworkError | httpx.RemoteProtocolError):
            if idempotent:
                raise _Retry(f"{name} (dropped or timed out)")
            raise WriteOutcomeUnknown(
                f"{where}: {name} after the request was sent; the write may or may not have "
                "been applied. Read the record back before retrying."
            )
        raise Unreachable(f"{where}: {name}")  # proxy, unsupported protocol, ...

    def _scrub(self, text: str) -> str:
        """Belt and braces: no server text we repeat may carry the key back to a log."""
        secret = self.connection.api_key.reveal()
        return text.replace(secret, "****") if secret else text

    def _errors_of(self, content: bytes) -> list[object]:
        """The failure reasons of an error body, with every string in them scrubbed."""
        return [_scrub_strings(item, self._scrub) for item in _errors_of(content)]


_UNPARSEABLE = object()


def _parse_or_none(content: bytes) -> Any:
    """The parsed body, or the _UNPARSEABLE marker (no exception to chain onto later errors)."""
    try:
        return parse_json_body(content)
    except ValueError:
        return _UNPARSEABLE


def _scrub_strings(value: Any, scrub: Callable[[str], str]) -> Any:
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, list):
        return [_scrub_strings(item, scrub) for item in value]
    if isinstance(value, dict):
        return {
            _scrub_strings(key, scrub): _scrub_strings(item, scrub) for key, item in value.items()
        }
    return value


def _errors_of(content: bytes) -> list[object]:
    try:
        body = parse_json_body(content)
    except ValueError:
        return []
    if isinstance(body, dict):
        for key in ("failureReasons", "errors"):
            value = body.get(key)
            if isinstance(value, list):
                return value
    return []


__all__ = ["ActiveCampaignClient", "ActiveCampaignError", "ClientStats"]

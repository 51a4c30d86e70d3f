"""The gate every request passes before an endpoint sees it: auth, plan, rate limit, faults.

Order, and the answers (bodies as ActiveCampaign sends them):
1. no or empty `Api-Token` header: 403 `{"message":"Forbidden"}`;
   a wrong key: 403 `{"message":"You don't have permission to access this resource"}`, except on
   `/lists`, where the API answers in its JSON:API form
   `{"errors":[{"status":403,"title":"Forbidden","detail":"..."}]}`. Clients must treat all three
   as an authentication failure (and tell them apart from "No Result found for _List", a 403 for a
   missing list; see writes.py).
2. the account's plan is inactive (`account.active = False`): 402 on every call.
3. the rate limit (rate_limit.py): 429 with `Retry-After` and `RateLimit-*`; every admitted
   response carries `RateLimit-Limit/Remaining/Reset` as well.
4. fault injection (faults.py), then the endpoint. Due bulk-import batches are applied first.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qsl

from starlette.datastructures import Headers

from ac_hygiene.sandbox.activecampaign.faults import DroppedConnection, Roll
from ac_hygiene.sandbox.activecampaign.rate_limit import Decision
from ac_hygiene.sandbox.activecampaign.state import RecordedRequest, SandboxState
from ac_hygiene.sandbox.activecampaign.stats import endpoint_of

Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[MutableMapping[str, Any], Receive, Send], Awaitable[None]]

FORBIDDEN = {"message": "Forbidden"}
WRONG_KEY = {"message": "You don't have permission to access this resource"}
WRONG_KEY_LISTS = {
    "errors": [
        {"status": 403, "title": "Forbidden", "detail": "You do not have permission to view lists."}
    ]
}
INACTIVE = {"message": "Payment Required: the account's plan is inactive."}
TOO_MANY = {"message": "Too Many Requests"}
SERVER_ERROR = {"message": "Internal Server Error"}
UNAVAILABLE_HTML = (
    b"<html><head><title>503 Service Unavailable</title></head><body>"
    b"<center><h1>503 Service Unavailable</h1></center></body></html>\n"
)
NO_ROLL = Roll(kind=None, slow=False)


async def _send_body(
    send: Send,
    status: int,
    body: bytes,
    content_type: str = "application/json",
    headers: dict[str, str] | None = None,
) -> None:
    raw = [
        (b"content-type", content_type.encode()),
        (b"content-length", str(len(body)).encode()),
        *((k.lower().encode(), v.encode()) for k, v in (headers or {}).items()),
    ]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


async def _send_json(
    send: Send, status: int, body: Any, headers: dict[str, str] | None = None
) -> None:
    data = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
    await _send_body(send, status, data, headers=headers)


async def _read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


def _replay(body: bytes) -> Receive:
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if sent:
            await asyncio.Event().wait()  # as a server does: nothing more until disconnect
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return receive


class SandboxGuard:
    """Pure ASGI middleware, because faults need the raw `send` (to drop or cut a response)."""

    def __init__(self, app: ASGIApp, state: SandboxState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: MutableMapping[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state, stats = self.state, self.state.stats
        method, path = scope["method"], scope["path"]
        stats.count_request(endpoint_of(method, path))
        raw_send = send

        async def counted(message: Message) -> None:
            if message["type"] == "http.response.start":
                stats.count_status(message["status"])
            await raw_send(message)

        send = counted
        token = Headers(scope=scope).get("api-token", "").strip()
        if not token or not state.key_matches(token):
            stats.auth_failures += 1
            body = WRONG_KEY_LISTS if path.startswith("/api/3/lists") else WRONG_KEY
            await _send_json(send, 403, body if token else FORBIDDEN)
            return
        if not state.account.active:
            stats.inactive_refusals += 1
            await _send_json(send, 402, INACTIVE)
            return
        decision = state.limiter.take() if state.limiter else None
        if decision is not None and not decision.allowed:
            stats.rate_limited += 1
            await _send_json(send, 429, TOO_MANY, decision.headers())
            return
        stats.admitted(state.clock())
        headers = decision.headers() if decision else {}
        if state.recorded is not None:
            body = await _read_body(receive)
            receive = _replay(body)
            state.recorded.append(_record(scope, body))
        roll = state.dice.roll(method) if state.faults.any else NO_ROLL
        if roll.slow:
            stats.count_fault("slow")
            await asyncio.sleep(state.faults.slow_s)
        if roll.kind is not None and roll.kind != "truncated":
            stats.count_fault(roll.kind)
            await self._fault(roll.kind, send, raw_send, decision)
            return
        state.imports.settle()
        if roll.kind == "truncated":
            stats.count_fault("truncated")
            send = _truncating(send)
        if state.request_hook is not None:
            send = _hooked(send, state.request_hook, method, path)
        await self.app(scope, receive, _with_headers(send, headers))

    async def _fault(
        self, kind: str, send: Send, raw_send: Send, decision: Decision | None
    ) -> None:
        if kind == "drop":
            await raw_send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"content-length", b"4096"),
                    ],
                }
            )
            raise DroppedConnection("sandbox fault: connection dropped mid-response")
        if kind == "429":
            limit = decision.limit if decision else 5
            refused = Decision(allowed=False, limit=limit, remaining=0, reset_s=1, retry_after_s=1)
            await _send_json(send, 429, TOO_MANY, refused.headers())
        elif kind == "500":
            await _send_json(send, 500, SERVER_ERROR)
        else:
            await _send_body(send, 503, UNAVAILABLE_HTML, "text/html")


def _record(scope: MutableMapping[str, Any], body: bytes) -> RecordedRequest:
    params = parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
    json_body: Any = None
    if body:
        try:
            json_body = json.loads(body)
        except (json.JSONDecodeError, UnicodeDecodeError):
            json_body = body.decode("utf-8", "replace")
    return RecordedRequest(scope["method"], scope["path"], params, json_body)


def _with_headers(send: Send, headers: dict[str, str]) -> Send:
    if not headers:
        return send
    extra = [(k.lower().encode(), v.encode()) for k, v in headers.items()]

    async def wrapped(message: Message) -> None:
        if message["type"] == "http.response.start":
            message = {**message, "headers": [*message.get("headers", []), *extra]}
        await send(message)

    return wrapped


def _truncating(send: Send) -> Send:
    """Buffers the response, then sends the first half of its body with a matching length."""
    start: Message = {}
    chunks: list[bytes] = []

    async def wrapped(message: Message) -> None:
        nonlocal start
        if message["type"] == "http.response.start":
            start = message
            return
        if message["type"] != "http.response.body":
            await send(message)
            return
        chunks.append(message.get("body", b""))
        if message.get("more_body"):
            return
        body = b"".join(chunks)
        cut = body[: len(body) // 2]
        headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
        headers.append((b"content-length", str(len(cut)).encode()))
        await send({**start, "headers": headers})
        await send({"type": "http.response.body", "body": cut})

    return wrapped


def _hooked(send: Send, hook: Callable[[str, str], None], method: str, path: str) -> Send:
    """Call `hook(method, path)` once the handler has applied the request, before its answer
    goes out: a test that kills its client there makes a write whose answer was lost."""

    async def wrapped(message: Message) -> None:
        if message["type"] == "http.response.start":
            hook(method, path)
        await send(message)

    return wrapped

"""Retry and error classification of the client, against scripted answers (httpx.MockTransport).

The sandbox tests check the same client against a real server; these pin down each rule alone.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import socket
import time
import uuid
from collections.abc import Callable

import httpx
import pytest

from ac_hygiene.activecampaign.api_key import ApiKey
from ac_hygiene.activecampaign.client import ActiveCampaignClient
from ac_hygiene.activecampaign.contacts import extract_contacts
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
from ac_hygiene.activecampaign.retry import Backoff
from ac_hygiene.activecampaign.writes import ImportContact, bulk_import

KEY = "5ec12e7" + "a1b2c3d4" * 8 + "zz"  # distinctive: must never appear in any text we produce

Answer = httpx.Response | Exception


class Script:
    """Answers requests in order from a list; records what was asked."""

    def __init__(self, answers: list[Answer]) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        return answer


def _json(status: int, body: object, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(status, content=json.dumps(body).encode(), headers=headers)


OK = _json(200, {"user": {"id": "1"}})
# A compressed body cut or corrupted on the way: httpx raises DecodingError while reading it.
_CORRUPT_GZIP = httpx.DecodingError("Error -3 while decompressing data: invalid block type")


@pytest.fixture
def connection() -> Connection:
    # A unique account per test: limiters are shared per account across the process.
    return Connection("t", f"https://t{uuid.uuid4().hex[:10]}.api-us1.com", ApiKey(KEY))


@pytest.fixture
def make_client(
    connection: Connection,
) -> Callable[..., tuple[ActiveCampaignClient, Script]]:
    def make(answers: list[Answer], **kwargs: object) -> tuple[ActiveCampaignClient, Script]:
        script = Script(answers)
        kwargs.setdefault("rate", 1000.0)
        kwargs.setdefault("backoff", Backoff(base_s=0.001, cap_s=0.01))
        client = ActiveCampaignClient(
            connection,
            transport=httpx.MockTransport(script),
            **kwargs,  # type: ignore[arg-type]
        )
        return client, script

    return make


async def test_sends_the_key_header_to_the_api_path(make_client) -> None:
    client, script = make_client([OK])
    async with client:
        assert await client.get("/users/me") == {"user": {"id": "1"}}
    request = script.requests[0]
    assert request.headers["Api-Token"] == KEY
    assert request.url.path == "/api/3/users/me"
    assert client.stats.requests == 1
    assert client.stats.bytes_received > 0


async def test_429_pauses_the_account_and_retries(make_client) -> None:
    limited = _json(429, {"message": "Too Many Requests"}, {"Retry-After": "0.05"})
    client, script = make_client([limited, OK])
    async with client:
        assert await client.get("/users/me") == {"user": {"id": "1"}}
    assert len(script.requests) == 2
    assert client.stats.http_429 == 1
    assert client.stats.retries == 1
    assert client.limiter.stats.pauses == 1
    assert client.stats.throttled_s >= 0.04


async def test_429_is_retried_even_for_a_non_idempotent_post(make_client) -> None:
    limited = _json(429, {}, {"Retry-After": "0"})
    client, script = make_client([limited, _json(200, {"success": 1})])
    async with client:
        assert await client.post("/import/bulk_import", json={"contacts": []}) == {"success": 1}
    assert len(script.requests) == 2


async def test_a_batch_whose_status_cannot_be_read_is_unknown_not_lost(make_client) -> None:
    queued = _json(200, {"success": 1, "queued_contacts": 2, "batchId": "b-1"})
    client, script = make_client([queued, *[_json(503, {})] * 3], max_retries=2)
    contacts = [ImportContact("a@x.com"), ImportContact("b@x.com")]
    async with client:
        result = await bulk_import(client, contacts, poll_interval_s=0.001)
    assert result.batch_ids == ["b-1"]  # kept, so the caller can reconcile the batch later
    assert result.unknown == ["a@x.com", "b@x.com"]
    assert not result.complete and not result.imported and not result.failed
    assert [r.url.path for r in script.requests].count("/api/3/import/info") == 3


async def test_bulk_import_rate_limit_400_is_a_throttle(make_client) -> None:
    body = {
        "success": 0,
        "message": "Rate limit exceeded.",
        "failureReasons": ["Up to 100 imports may be requested per minute."],
    }
    client, script = make_client([_json(400, body, {"Retry-After": "0.01"}), _json(200, {})])
    async with client:
        await client.post(
            "/import/bulk_import", json={"contacts": []}, extra_limiter=client.bulk_import_limiter
        )
    assert len(script.requests) == 2
    assert client.bulk_import_limiter.stats.pauses == 1


@pytest.mark.parametrize(
    "failure",
    [
        _json(500, {"message": "oops"}),
        _json(502, {}),
        _json(503, {}),
        _json(503, {}, {"Retry-After": "0"}),
        httpx.Response(200, content=b'{"contacts": [{"id": "1", "ema'),  # truncated JSON
        httpx.Response(200, content=b"<html>gateway</html>"),
        _CORRUPT_GZIP,
        httpx.ReadTimeout("read timed out"),
        httpx.RemoteProtocolError("Server disconnected without sending a response."),
        httpx.ReadError("connection reset by peer"),
        httpx.ConnectError("connection refused"),
    ],
)
async def test_transient_failures_on_reads_are_retried(make_client, failure: Answer) -> None:
    client, script = make_client([failure, failure, OK])
    async with client:
        assert await client.get("/users/me") == {"user": {"id": "1"}}
    assert len(script.requests) == 3
    assert client.stats.retries == 2


@pytest.mark.parametrize(
    "failure",
    [
        _json(500, {}),
        _json(503, {}),
        httpx.ReadTimeout("read timed out"),
        httpx.RemoteProtocolError("Server disconnected without sending a response."),
        httpx.Response(200, content=b'{"success": 1, "batch'),
        _CORRUPT_GZIP,
    ],
)
async def test_uncertain_failures_of_a_write_are_not_retried(make_client, failure: Answer) -> None:
    client, script = make_client([failure, OK])
    async with client:
        with pytest.raises(WriteOutcomeUnknown):
            await client.post("/import/bulk_import", json={"contacts": []})
    assert len(script.requests) == 1


async def test_uncertain_failures_of_an_idempotent_write_are_retried(make_client) -> None:
    client, script = make_client([_json(500, {}), _json(200, {"contactList": {}})])
    async with client:
        await client.post("/contactLists", json={"contactList": {}}, idempotent=True)
    assert len(script.requests) == 2


async def test_a_write_that_never_reached_the_server_is_retried(make_client) -> None:
    client, script = make_client([httpx.ConnectError("refused"), _json(200, {"success": 1})])
    async with client:
        await client.post("/import/bulk_import", json={"contacts": []})
    assert len(script.requests) == 2


async def test_retries_are_bounded(make_client) -> None:
    client, script = make_client([_json(500, {})], max_retries=3)
    async with client:
        with pytest.raises(RetriesExhausted, match="4 attempts"):
            await client.get("/contacts")
    assert len(script.requests) == 4


async def test_connection_refused_becomes_unreachable(make_client) -> None:
    client, script = make_client([httpx.ConnectError("refused")], max_retries=2)
    async with client:
        with pytest.raises(Unreachable):
            await client.get("/users/me")
    assert len(script.requests) == 3


async def test_dns_failure_is_unreachable_at_once(make_client) -> None:
    def dns_failure() -> httpx.ConnectError:
        try:
            raise socket.gaierror(-2, "Name or service not known")
        except socket.gaierror as cause:
            try:
                raise httpx.ConnectError("[Errno -2] Name or service not known") from cause
            except httpx.ConnectError as exc:
                return exc

    client, script = make_client([dns_failure()])
    async with client:
        with pytest.raises(Unreachable, match="does not resolve"):
            await client.get("/users/me")
    assert len(script.requests) == 1


async def test_403_is_retried_once_then_auth_failed(make_client) -> None:
    client, script = make_client([_json(403, {"message": "Forbidden"})])
    async with client:
        with pytest.raises(AuthenticationFailed) as excinfo:
            await client.get("/users/me")
    assert len(script.requests) == 2
    message = str(excinfo.value)
    assert message.startswith("API authentication failed")
    assert "trailing whitespace" in message
    assert "admin permissions" in message
    assert "Regenerate" in message


async def test_an_intermittent_403_recovers(make_client) -> None:
    forbidden = _json(403, {"errors": [{"status": 403, "title": "Forbidden", "detail": "x"}]})
    client, script = make_client([forbidden, OK])
    async with client:
        assert await client.get("/users/me") == {"user": {"id": "1"}}
    assert len(script.requests) == 2


async def test_403_no_result_found_is_not_found(make_client) -> None:
    client, script = make_client([_json(403, {"message": "No Result found for _List with id 3"})])
    async with client:
        with pytest.raises(NotFound, match="No Result found"):
            await client.get("/lists/3")
    assert len(script.requests) == 1


@pytest.mark.parametrize(
    ("answer", "error"),
    [
        (_json(402, {"message": "Payment Required"}), AccountInactive),
        (_json(404, {"message": "No result found for Contact with id 9"}), NotFound),
        (_json(422, {"errors": [{"title": "Email is invalid"}]}), ValidationFailed),
        (_json(400, {"message": "JSON payload did not pass validation."}), ValidationFailed),
        (_json(401, {}), AuthenticationFailed),
        (httpx.Response(302, headers={"Location": "https://evil.example/"}), UnexpectedResponse),
        (_json(418, {}), UnexpectedResponse),
    ],
)
async def test_fatal_answers_are_never_retried(make_client, answer: Answer, error: type) -> None:
    client, script = make_client([answer, OK])
    async with client:
        with pytest.raises(error):
            await client.get("/contacts/9")
    assert len(script.requests) == 1


async def test_validation_failure_keeps_the_reasons(make_client) -> None:
    body = {"success": 0, "failureReasons": [{"contact": 3, "failureReason": "bad email"}]}
    client, _ = make_client([_json(400, body)])
    async with client:
        with pytest.raises(ValidationFailed) as excinfo:
            await client.post("/import/bulk_import", json={"contacts": []})
    assert excinfo.value.failure_reasons == [{"contact": 3, "failureReason": "bad email"}]


_EVERY_ERROR_PATH: list[tuple[list[Answer], str]] = [
    ([_json(403, {"message": f"Forbidden for {KEY}"})], "GET"),
    ([_json(403, {"message": f"No Result found for {KEY}"})], "GET"),
    ([_json(402, {"message": KEY})], "GET"),
    ([_json(404, {"message": KEY})], "GET"),
    ([_json(422, {"errors": [{"detail": KEY}]})], "GET"),
    ([_json(400, {"message": KEY})], "GET"),
    ([_json(500, {"message": KEY})], "GET"),
    ([_json(500, {"message": KEY})], "POST"),
    ([_json(418, {"message": KEY})], "GET"),
    ([httpx.Response(301, headers={"Location": f"https://x/{KEY}"})], "GET"),
    ([httpx.Response(200, content=KEY.encode())], "GET"),
    ([httpx.Response(200, content=KEY.encode())], "POST"),
    ([httpx.ReadTimeout(f"timeout {KEY}")], "GET"),
    ([httpx.ReadTimeout(f"timeout {KEY}")], "POST"),
    ([httpx.ConnectError(f"refused {KEY}")], "GET"),
    ([_json(429, {"message": KEY}, {"Retry-After": "0"})], "GET"),
]


@pytest.mark.parametrize(("answers", "method"), _EVERY_ERROR_PATH)
async def test_the_key_never_leaks(
    make_client, caplog: pytest.LogCaptureFixture, answers: list[Answer], method: str
) -> None:
    client, _ = make_client(answers, max_retries=1)
    with caplog.at_level(logging.DEBUG):
        async with client:
            with pytest.raises(ActiveCampaignError) as excinfo:
                await client.request(method, "/contacts", json={"x": 1})
            logging.getLogger("test").error("failed: %s", excinfo.value, exc_info=excinfo.value)
    error = excinfo.value
    texts = [str(error), repr(error), *map(str, error.args), caplog.text, repr(client)]
    texts += [str(error.__cause__), str(error.__context__)]
    for text in texts:
        assert KEY not in text
        assert KEY[:-4] not in text


async def test_a_server_ignoring_id_greater_stops_the_extraction(make_client) -> None:
    page = {"contacts": [{"id": str(i), "email": f"c{i}@x.com"} for i in range(1, 101)]}
    client, script = make_client([_json(200, page)])
    async with client:
        with pytest.raises(UnexpectedResponse, match="does not page by id"):
            await extract_contacts(client, "all")
    assert len(script.requests) == 2


async def test_a_page_out_of_id_order_stops_the_extraction(make_client) -> None:
    ids = list(range(1, 101))
    ids[10], ids[90] = ids[90], ids[10]  # orders[id]=ASC ignored: the cursor would skip 11..90
    page = {"contacts": [{"id": str(i), "email": f"c{i}@x.com"} for i in ids]}
    client, script = make_client([_json(200, page)])
    async with client:
        with pytest.raises(UnexpectedResponse, match="not in ascending id order"):
            await extract_contacts(client, "all")
    assert len(script.requests) == 1


@pytest.mark.parametrize("status", [400, 402, 403, 404, 418, 422, 500])
async def test_a_key_echoed_at_the_message_length_limit_does_not_leak_in_part(
    make_client, status: int
) -> None:
    # The message is shortened to 300 characters: shortened before scrubbing, the key would be
    # cut in two and its first part (no longer the whole key) would not be scrubbed.
    body = {"message": "x" * 270 + " token " + KEY}
    client, _ = make_client([_json(status, body)], max_retries=0)
    async with client:
        with pytest.raises(ActiveCampaignError) as excinfo:
            await client.post("/contacts", json={"x": 1})
    error = excinfo.value
    for text in (str(error), repr(error), *map(str, error.args)):
        assert KEY[:16] not in text


async def test_failure_reasons_that_echo_the_key_are_scrubbed(make_client) -> None:
    body = {
        "success": 0,
        "failureReasons": [{"contact": 0, "failureReason": f"bad {KEY}"}, f"also {KEY}"],
    }
    client, _ = make_client([_json(400, body)])
    async with client:
        with pytest.raises(ValidationFailed) as excinfo:
            await client.post("/import/bulk_import", json={"contacts": []})
    reasons = excinfo.value.failure_reasons
    assert reasons == [{"contact": 0, "failureReason": "bad ****"}, "also ****"]
    assert KEY[:16] not in repr(reasons)


async def test_a_bulk_import_waiting_on_its_own_limiter_still_takes_a_fresh_account_slot(
    connection: Connection,
) -> None:
    # A bulk import held by the bulk-import limiter (here: paused) must not go out on an account
    # slot it reserved before that wait: it would land on top of the account's paced traffic.
    sent: list[float] = []

    def record(request: httpx.Request) -> httpx.Response:
        sent.append(time.monotonic())
        return _json(200, {})

    client = ActiveCampaignClient(connection, rate=5.0, transport=httpx.MockTransport(record))

    async def reads() -> None:
        for _ in range(8):
            await client.get("/users/me")

    async with client:
        client.bulk_import_limiter.pause(0.55)  # ends 0.05 s before a read
        await asyncio.gather(
            reads(),
            client.post(
                "/import/bulk_import",
                json={"contacts": []},
                extra_limiter=client.bulk_import_limiter,
            ),
        )
    assert len(sent) == 9
    gaps = [later - earlier for earlier, later in itertools.pairwise(sent)]
    assert min(gaps) > 0.12  # one every 0.2 s at 5 req/s, the bulk import included


async def test_a_corrupt_compressed_body_is_read_as_a_transient_failure(connection) -> None:
    answers = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal answers
        answers += 1
        if answers == 1:  # decoded only when the client reads the body
            headers = {"Content-Encoding": "gzip"}
            return httpx.Response(200, stream=httpx.ByteStream(b"\x1f\x8b cut"), headers=headers)
        return OK

    client = ActiveCampaignClient(
        connection,
        rate=1000.0,
        backoff=Backoff(base_s=0.001, cap_s=0.01),
        transport=httpx.MockTransport(handler),
    )
    async with client:
        assert await client.get("/users/me") == {"user": {"id": "1"}}
    assert answers == 2
    assert client.stats.transport_errors == 1

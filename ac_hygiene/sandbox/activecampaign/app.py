"""`create_app`: the sandbox ActiveCampaign v3 API as a Starlette (ASGI) app.

In-process, for unit tests::

    app = create_app(generate_account(500), api_key="k" * 64)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="https://demo.api-us1.com") as http:
        await http.get("/api/3/contacts", headers={"Api-Token": "k" * 64})

On a loopback port (real sockets, for dropped connections and demos): `serve_in_thread(app)`.
`app.state.sandbox` is the `SandboxState`: the account, `stats`, the import queue.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from ac_hygiene.sandbox.activecampaign import reads, writes
from ac_hygiene.sandbox.activecampaign.account import SandboxAccount
from ac_hygiene.sandbox.activecampaign.faults import Faults
from ac_hygiene.sandbox.activecampaign.guard import SandboxGuard
from ac_hygiene.sandbox.activecampaign.state import SandboxState

API = "/api/3"

ROUTES = [
    Route(f"{API}/", reads.api_root, methods=["GET"]),
    Route(f"{API}", reads.api_root, methods=["GET"]),
    Route(f"{API}/users/me", reads.users_me, methods=["GET"]),
    Route(f"{API}/lists", reads.lists, methods=["GET"]),
    Route(f"{API}/tags", reads.tags, methods=["GET"]),
    Route(f"{API}/fields", reads.fields, methods=["GET"]),
    Route(f"{API}/fields", writes.post_field, methods=["POST"]),
    Route(f"{API}/contacts", reads.contacts, methods=["GET"]),
    Route(f"{API}/contacts", writes.post_contact, methods=["POST"]),
    Route(f"{API}/contacts/{{id:int}}", reads.contact, methods=["GET"]),
    Route(f"{API}/contacts/{{id:int}}", writes.delete_contact, methods=["DELETE"]),
    Route(f"{API}/contacts/{{id:int}}/contactLists", reads.contact_memberships, methods=["GET"]),
    Route(f"{API}/contacts/{{id:int}}/contactTags", reads.contact_tags_of, methods=["GET"]),
    Route(f"{API}/contacts/{{id:int}}/fieldValues", reads.contact_field_values, methods=["GET"]),
    Route(f"{API}/contactLists", reads.all_memberships, methods=["GET"]),
    Route(f"{API}/contactLists", writes.post_contact_list, methods=["POST"]),
    Route(f"{API}/contactTags", reads.all_contact_tags, methods=["GET"]),
    Route(f"{API}/contactTags", writes.post_contact_tag, methods=["POST"]),
    Route(f"{API}/contactTags/{{id:int}}", writes.delete_contact_tag, methods=["DELETE"]),
    Route(f"{API}/fieldValues", reads.all_field_values, methods=["GET"]),
    Route(f"{API}/fieldValues", writes.post_field_value, methods=["POST"]),
    Route(f"{API}/fieldValues/{{id:int}}", writes.put_field_value, methods=["PUT"]),
    Route(f"{API}/import/bulk_import", writes.bulk_import, methods=["POST"]),
    Route(f"{API}/import/info", reads.import_info, methods=["GET"]),
]


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    """Unknown paths and methods answer JSON, as the API does, not Starlette's plain text."""
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    return JSONResponse({"message": getattr(exc, "detail", "Error")}, status)


def create_app(
    account: SandboxAccount,
    *,
    api_key: str,
    rate_limit: float | None = 5.0,
    burst: int | None = None,
    faults: Faults | None = None,
    clock: Callable[[], float] = time.time,
    import_delay_s: float = 1.0,
    record_requests: bool = False,
) -> Starlette:
    """The sandbox API for `account`, answering requests that carry `api_key`.

    rate_limit: requests per second per account (None: unlimited); burst: bucket size (default
    the rate rounded). clock: POSIX seconds, used for the rate limit, the import stages and the
    dates that writes stamp; pass a fake one to step time in tests. import_delay_s: the length of
    each bulk-import stage (false, waiting, active; completed after 3 stages). record_requests:
    keep the last 10,000 requests in `app.state.sandbox.recorded`.
    """
    state = SandboxState(
        account,
        api_key=api_key,
        rate_limit=rate_limit,
        burst=burst,
        faults=faults,
        clock=clock,
        import_delay_s=import_delay_s,
        record_requests=record_requests,
    )
    app = Starlette(
        routes=ROUTES,
        middleware=[Middleware(SandboxGuard, state=state)],
        exception_handlers={HTTPException: _http_error},
    )
    app.state.sandbox = state
    return app

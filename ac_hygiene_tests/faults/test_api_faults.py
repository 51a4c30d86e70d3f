"""ActiveCampaign misbehaving, against the real sandbox API on loopback (issue 13).

- A faulty API (429, 500/503, dropped connections, truncated JSON) gives, after as many re-runs
  as it takes (each resuming from the checkpoint), tables identical to a clean run's.
- Hostile contact data (quotes, SQL, markup, control and bidi characters, emoji, long names) is
  stored byte-exact.
- A lone surrogate escape (`\\ud800`) in a page no longer fails the segment on every retry: it
  becomes U+FFFD and every other field is kept exactly (item 4).
- An extraction that resumes every page from its checkpoint reports it, not "in 0 pages"
  (item 5).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg
import polars as pl
import pytest

from ac_hygiene.activecampaign.contacts import PageProgress, extract_contacts_sync
from ac_hygiene.activecampaign.credentials import Connection
from ac_hygiene.defs.progress import PageLogger
from ac_hygiene.sandbox.activecampaign import Faults, generate_account
from ac_hygiene.sandbox.activecampaign.server import serve_in_thread
from ac_hygiene_tests.faults.conftest import Api, Deployment, serve_account

pytestmark = pytest.mark.slow
START = 1_767_225_600  # 2026-01-01, the generator's clock


@dataclass(frozen=True)
class ApiFault:
    name: str
    faults: Faults


API_FAULTS = [
    ApiFault("429_storm", Faults(p_429=0.3, seed=1)),
    ApiFault("server_errors", Faults(p_500=0.15, p_503=0.15, seed=2)),
    ApiFault("dropped_connections", Faults(p_drop=0.25, seed=3)),
    ApiFault("truncated_json", Faults(p_truncated=0.25, seed=4)),
    ApiFault("all_at_once", Faults(p_429=0.1, p_500=0.05, p_drop=0.05, p_truncated=0.1, seed=5)),
]
MAX_ATTEMPTS = 5


def run_until_success(deployment: Deployment) -> int:
    """Re-run the segment like an operator would (each run resumes); returns the attempts."""
    defs = deployment.definitions()
    with dg.DagsterInstance.ephemeral() as instance:
        for attempt in range(1, MAX_ATTEMPTS + 1):
            if deployment.run_segment(defs, instance).success:
                return attempt
    pytest.fail(f"the segment did not succeed in {MAX_ATTEMPTS} runs")


TABLE_KEYS = {
    "segment_contacts": ["contact_id"],
    "verifications": ["email"],
    "clean_plan": ["contact_id"],
}
VOLATILE = ["checked_at", "from_cache", "billable"]  # when and how, not what


def tables(deployment: Deployment) -> dict[str, pl.DataFrame]:
    found = {}
    for name, key in TABLE_KEYS.items():
        frame = deployment.table(name)
        found[name] = frame.drop([c for c in VOLATILE if c in frame.columns]).sort(key)
    return found


@pytest.mark.parametrize("fault", API_FAULTS, ids=[f.name for f in API_FAULTS])
def test_a_faulty_api_gives_the_tables_of_a_clean_run(
    deployment: Deployment, api: Api, fault: ApiFault
) -> None:
    assert run_until_success(deployment) == 1
    clean = tables(deployment)

    api_key, app, server = serve_account(api.account, faults=fault.faults)
    with server as base_url:
        deployment.point_at(Api(api.account, base_url, api_key, app))
        run_until_success(deployment)
        injected = sum(app.state.sandbox.stats.faults.values())  # type: ignore[attr-defined]
    assert injected > 0, "no fault was injected: the case tests nothing"
    faulty = tables(deployment)
    for name in TABLE_KEYS:
        assert faulty[name].equals(clean[name]), f"{name} differs after {fault.name}"


HOSTILE = [
    ("o'brien@acme.com", "Robert'); DROP TABLE contacts;--", 'Bobby "Tables"'),
    ("xss@acme.com", "<script>alert(1)</script>", "&amp; &lt;b&gt;"),
    ("lines@acme.com", "two\nlines\r\nand\ttab", "trailing space "),
    ("bidi@acme.com", "\u202eevil\u202c", "zero\u200bwidth\u200djoin"),
    ("emoji@acme.com", "👩‍👩‍👧‍👦 family", "e\u0301 combining"),
    ("jndi@acme.com", "${jndi:ldap://127.0.0.1/a}", "=cmd|' /C calc'!A0"),
    ("long@acme.com", "L" * 1_000, "\\ backslash \\\\ and \x7f"),
    ("MiXeD.Case+tag@Acme.COM", " padded ", ""),
    ("用户@例子.广告", "Ünïcödé", "名前"),
    ("nul@acme.com", "nul\x00inside", "bell\x07"),
]


def test_hostile_contact_data_is_stored_byte_exact(deployment: Deployment) -> None:
    account = generate_account(150, seed=21, lists=2, tags=2)  # hostile ones a small share
    for email, first, last in HOSTILE:
        account.add_contact(email, first, last, cdate=START)
    api_key, app, server = serve_account(account)
    with server as base_url:
        deployment.point_at(Api(account, base_url, api_key, app))
        assert run_until_success(deployment) == 1
    stored = deployment.table("segment_contacts")
    expected = {c.id: (c.email, c.first_name, c.last_name) for c in account.contacts.values()}
    got = {
        row["contact_id"]: (row["email"], row["first_name"] or "", row["last_name"] or "")
        for row in stored.iter_rows(named=True)
    }
    assert got == expected
    for email, first, _ in HOSTILE:
        assert first.encode() in [g[1].encode() for g in got.values()], email


class SurrogateInjector:
    """ASGI middleware: the 6 bytes `QQQQQQ` in a response become the 6 bytes `\\ud800`.

    The sandbox encodes real UTF-8 and cannot send a lone surrogate itself; some clients of
    ActiveCampaign store half an emoji, and its API then escapes it like this.
    """

    def __init__(self, app: Any) -> None:
        self.app = app
        self.state = app.state

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        async def patched(message: dict) -> None:
            if message["type"] == "http.response.body":
                body = message.get("body", b"").replace(b"QQQQQQ", b"\\ud800")
                message = {**message, "body": body}
            await send(message)

        await self.app(scope, receive, patched)


def test_a_lone_surrogate_in_a_page_is_replaced_not_fatal(deployment: Deployment) -> None:
    account = generate_account(150, seed=22, lists=2, tags=2)
    broken = account.add_contact("half.emoji@acme.com", "AnnQQQQQQ", "QQQQQQ", cdate=START)
    api_key, app, _ = serve_account(account)
    with serve_in_thread(SurrogateInjector(app)) as base_url:
        deployment.point_at(Api(account, base_url, api_key, app))
        assert run_until_success(deployment) == 1  # not a failure on every retry
    stored = deployment.table("segment_contacts")
    row = stored.filter(pl.col("contact_id") == broken.id).row(0, named=True)
    assert (row["email"], row["first_name"], row["last_name"]) == (
        "half.emoji@acme.com",
        "Ann\ufffd",
        "\ufffd",
    )
    others = stored.filter(pl.col("contact_id") != broken.id)
    assert others.height == 150
    for contact_id, email, first in others.select("contact_id", "email", "first_name").rows():
        assert (email, first or "") == (
            account.contacts[contact_id].email,
            account.contacts[contact_id].first_name,
        )


class Interrupted(Exception):
    pass


def interrupt_after(pages: int, logger: PageLogger) -> Callable[[PageProgress], None]:
    def progress(page: PageProgress) -> None:
        logger(page)
        if page.pages >= pages:
            raise Interrupted  # the page is already in the checkpoint, as after a kill

    return progress


@pytest.mark.parametrize(
    ("stored_before", "expected"),
    [
        (4, "all from the checkpoint of an interrupted attempt (no page read"),
        (2, "400 contacts in 4 pages (2 read now, 2 resumed from the checkpoint"),
    ],
    ids=["every_page_resumed", "half_resumed"],
)
def test_a_resumed_extraction_reports_pages_honestly(
    api: Api, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, stored_before: int, expected: str
) -> None:
    monkeypatch.setenv("AC_ALLOW_LOOPBACK", "1")
    connection = Connection.from_raw("shop", api.base_url, api.api_key)
    first = PageLogger(lambda _line: None, "shop all")
    with pytest.raises(Interrupted):
        extract_contacts_sync(
            connection,
            "all",
            checkpoint_dir=tmp_path,
            progress=interrupt_after(stored_before, first),
        )
    lines: list[str] = []
    again = PageLogger(lines.append, "shop all")
    frame = extract_contacts_sync(connection, "all", checkpoint_dir=tmp_path, progress=again)
    assert frame.height == 400
    summary = again.summary(frame.height, 0.5)
    assert expected in summary and " 0 pages" not in summary
    assert again.read == 4 - stored_before

"""Extraction against the sandbox ActiveCampaign on a real loopback socket."""

from __future__ import annotations

import polars as pl
from polars.testing import assert_frame_equal

from ac_hygiene.activecampaign.client import ActiveCampaignClient
from ac_hygiene.activecampaign.contacts import PageProgress, extract_contacts, extract_contacts_sync
from ac_hygiene.activecampaign.reads import (
    account_summary,
    fetch_field_values,
    fetch_fields,
    fetch_lists,
    fetch_tags,
)
from ac_hygiene.activecampaign.retry import Backoff
from ac_hygiene.sandbox.activecampaign import Faults
from ac_hygiene_tests.activecampaign.conftest import expected_contacts

FAST = {"rate": 500.0, "backoff": Backoff(base_s=0.01, cap_s=0.2)}


async def test_snapshot_equals_the_account(sandbox) -> None:
    with sandbox(contacts=450) as sb:
        pages: list[PageProgress] = []
        async with ActiveCampaignClient(sb.connection(), **FAST) as client:
            frame = await extract_contacts(client, "all", on_page=pages.append)
        assert_frame_equal(frame, expected_contacts(sb.account))
        # One request per 100 contacts (memberships sideloaded) plus the tags table.
        assert sb.stats.requests["GET /api/3/contacts"] <= 450 // 100 + 2
        assert pages[-1].contacts == 450
        assert pages[-1].total == 450
        assert [p.pages for p in pages] == list(range(1, len(pages) + 1))


async def test_both_membership_strategies_agree(sandbox) -> None:
    with sandbox(contacts=250) as sb:
        async with ActiveCampaignClient(sb.connection(), **FAST) as client:
            sideloaded = await extract_contacts(client, "all")
            tables = await extract_contacts(client, "all", memberships="tables")
    assert_frame_equal(sideloaded, tables)


async def test_a_list_segment(sandbox) -> None:
    with sandbox(contacts=300) as sb:
        async with ActiveCampaignClient(sb.connection(), **FAST) as client:
            frame = await extract_contacts(client, "list-2")
        expected = expected_contacts(sb.account, list_id=2)
        assert 0 < frame.height < 300
        assert_frame_equal(frame, expected)


async def test_tags_of_deleted_tags_are_dropped(sandbox) -> None:
    with sandbox(contacts=200) as sb:
        with sb.account.lock:
            tagged = {t.contact for t in sb.account.contact_tags.values() if t.tag == 1}
            del sb.account.tags[1]  # the tag goes, its contactTag rows stay (as in the real API)
            sb.account.version += 1
        assert tagged
        async with ActiveCampaignClient(sb.connection(), **FAST) as client:
            frame = await extract_contacts(client, "all")
    assert frame.filter(pl.col("tag_ids").list.contains(1)).height == 0
    assert_frame_equal(frame, expected_contacts(sb.account))


async def test_known_tags_covering_the_contacts_spare_the_tags_read(sandbox) -> None:
    with sandbox(contacts=200) as sb:
        known = pl.Series("tag_id", sorted(sb.account.tags), dtype=pl.Int64)
        async with ActiveCampaignClient(sb.connection(), **FAST) as client:
            frame = await extract_contacts(client, "all", known_tag_ids=known)
        assert sb.stats.requests.get("GET /api/3/tags", 0) == 0
    assert_frame_equal(frame, expected_contacts(sb.account))


async def test_a_tag_outside_the_known_ones_makes_the_extraction_read_the_tags(sandbox) -> None:
    with sandbox(contacts=200) as sb:
        with sb.account.lock:
            del sb.account.tags[1]  # deleted: its contactTag rows stay (as in the real API)
            sb.account.version += 1
        # An older table that knew neither tag 1 nor tag 2 (say tag 2 is newer than it).
        known = pl.Series("tag_id", sorted(set(sb.account.tags) - {2}), dtype=pl.Int64)
        async with ActiveCampaignClient(sb.connection(), **FAST) as client:
            frame = await extract_contacts(client, "all", known_tag_ids=known)
        assert sb.stats.requests["GET /api/3/tags"] >= 1
    assert frame.filter(pl.col("tag_ids").list.contains(1)).height == 0
    assert frame.filter(pl.col("tag_ids").list.contains(2)).height > 0
    assert_frame_equal(frame, expected_contacts(sb.account))


async def test_faults_change_nothing(sandbox) -> None:
    """10%+ of requests fail (429, 500, 503 HTML, dropped connections, truncated JSON)."""
    faults = Faults(p_429=0.02, p_500=0.04, p_503=0.03, p_drop=0.03, p_truncated=0.03, seed=11)
    with sandbox(contacts=1200, seed=5) as clean_sb:
        async with ActiveCampaignClient(clean_sb.connection(), **FAST) as client:
            clean = await extract_contacts(client, "all")
    with sandbox(contacts=1200, seed=5, faults=faults) as sb:
        async with ActiveCampaignClient(sb.connection(), max_retries=8, **FAST) as client:
            faulty = await extract_contacts(client, "all")
        assert sum(sb.stats.faults.values()) >= 2
        assert client.stats.retries >= 2
    assert_frame_equal(faulty, clean)


async def test_small_tables_and_summary(sandbox) -> None:
    with sandbox(contacts=120) as sb:
        async with ActiveCampaignClient(sb.connection(), **FAST) as client:
            lists = await fetch_lists(client)
            tags = await fetch_tags(client)
            fields = await fetch_fields(client)
            values = await fetch_field_values(client)
            country = await fetch_field_values(client, field_id=2)
            summary = await account_summary(client)
        account = sb.account
        assert lists["list_id"].to_list() == sorted(account.lists)
        assert lists["name"].to_list() == [account.lists[i].name for i in sorted(account.lists)]
        assert tags["tag_id"].to_list() == sorted(account.tags)
        assert fields["title"].to_list() == [
            account.fields[i].title for i in sorted(account.fields)
        ]
        assert values.height == len(account.field_values)
        assert set(country["field_id"].to_list()) == {2}
        assert summary.contacts == 120
        assert (summary.lists, summary.tags) == (len(account.lists), len(account.tags))
        assert summary.user.display_name == "Sandbox Admin"


def test_sync_wrapper_with_checkpoint_dir(sandbox, tmp_path) -> None:
    with sandbox(contacts=230) as sb:
        seen: list[PageProgress] = []
        frame = extract_contacts_sync(
            sb.connection(), "all", checkpoint_dir=tmp_path / "cp", rate=500, progress=seen.append
        )
        assert_frame_equal(frame, expected_contacts(sb.account))
    assert seen and seen[-1].contacts == 230
    assert not (tmp_path / "cp").exists()  # emptied once the frame is handed over


async def test_updated_after_is_exact_in_utc(sandbox) -> None:
    with sandbox(contacts=400) as sb:
        expected = expected_contacts(sb.account)
        cut = expected["updated_at"].sort()[250]
        async with ActiveCampaignClient(sb.connection(), **FAST) as client:
            frame = await extract_contacts(client, "all", updated_after=cut)
    assert_frame_equal(frame, expected.filter(pl.col("updated_at") >= cut))

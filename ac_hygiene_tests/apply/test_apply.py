"""apply_plan against the sandbox API: each test checks the account's state afterwards."""

from __future__ import annotations

import asyncio
from pathlib import Path

import polars as pl

from ac_hygiene.activecampaign.client import ActiveCampaignClient
from ac_hygiene.hygiene.apply import ApplyOptions, WriteBack, apply_plan
from ac_hygiene.hygiene.backup import read_backup
from ac_hygiene.hygiene.journal import ApplyJournal
from ac_hygiene.hygiene.restore import backup_records, restore
from ac_hygiene_tests.apply.support import PLANNED_AT, build_account, later, snapshot

FAST = {"rate": 500.0}
MIX = {"valid": 6, "invalid": 5, "disposable": 3, "catch_all": 2, "unknown": 2, "risky": 2}


def run_apply(sb, plan, db_url, tmp_path: Path, run_id="run-1", **options):
    async def go():
        async with ActiveCampaignClient(sb.connection(), **FAST) as client:
            with ApplyJournal(db_url) as journal:
                return await apply_plan(
                    client,
                    plan,
                    journal=journal,
                    connection="acme",
                    partition="2026-12|all",
                    run_id=run_id,
                    backups_dir=tmp_path / "backups",
                    options=ApplyOptions(planned_at=PLANNED_AT, first_poll_s=0.05, **options),
                )

    return asyncio.run(go())


def outcome(report, contact_id):
    row = report.actions.filter(pl.col("contact_id") == contact_id).row(0, named=True)
    return row["outcome"], row["detail"]


def test_defaults_applied_and_nothing_else_touched(sandbox, db_url, tmp_path) -> None:
    account, plan = build_account(MIX)
    before = {cid: snapshot(account, cid) for cid in account.contacts}
    with sandbox(account=account, import_delay_s=0.02) as sb:
        report = run_apply(sb, plan, db_url, tmp_path)
    by_category = dict(zip(plan["contact_id"], plan["category"], strict=True))
    for cid, category in by_category.items():
        if category == "disposable":
            assert cid not in account.contacts
            assert outcome(report, cid) == ("done", "deleted")
        elif category == "invalid":
            after = snapshot(account, cid)
            # lists 1 and 2 unsubscribed, list 3 as it was; nothing else changed
            assert after["lists"] == [(1, 2), (2, 2), (3, 2)]
            assert {**after, "lists": None} == {**before[cid], "lists": None}
            assert outcome(report, cid)[0] == "done"
        else:  # valid, catch_all, unknown, risky: kept, untouched
            assert snapshot(account, cid) == before[cid]
            assert outcome(report, cid) == ("done", "keep: nothing to write")
    counts = report.counts()
    assert counts["unsubscribe_done"] == 5 and counts["delete_done"] == 3
    assert counts["keep_done"] == 12
    assert report.unresolved == 0
    assert sb.stats.requests["POST /api/3/import/bulk_import"] == 1
    assert sb.stats.requests["DELETE /api/3/contacts/{id}"] == 3


def test_second_run_sends_nothing(sandbox, sqlite_url, tmp_path) -> None:
    account, plan = build_account(MIX)
    with sandbox(account=account, import_delay_s=0.02) as sb:
        run_apply(sb, plan, sqlite_url, tmp_path)
        writes_before = _writes(sb)
        report = run_apply(sb, plan, sqlite_url, tmp_path, run_id="run-2")
        assert _writes(sb) == writes_before
    assert report.unresolved == 0 and sum(report.sent_by_this_run.values()) == 0
    assert report.counts()["delete_done"] == 3


def _writes(sb) -> int:
    return sum(n for ep, n in sb.stats.requests.items() if not ep.startswith("GET"))


def test_unknown_catch_all_risky_never_deleted_even_if_planned(sandbox, sqlite_url, tmp_path):
    account, plan = build_account({"unknown": 2, "catch_all": 2, "risky": 2, "disposable": 1})
    forced = plan.with_columns(action=pl.lit("delete"))  # a plan edited by hand, or a bug
    with sandbox(account=account) as sb:
        report = run_apply(sb, forced, sqlite_url, tmp_path)
        assert sb.stats.requests["DELETE /api/3/contacts/{id}"] == 1
    for cid, category in zip(plan["contact_id"], plan["category"], strict=True):
        if category == "disposable":
            assert cid not in account.contacts
        else:
            assert cid in account.contacts
            assert outcome(report, cid) == ("failed", f"refused: never delete a {category} result")


def test_changed_contacts_are_skipped_not_overwritten(sandbox, sqlite_url, tmp_path) -> None:
    account, plan = build_account({"invalid": 4, "disposable": 3})
    ids = plan["contact_id"].to_list()
    inv_email, inv_gone, inv_resub, inv_ok = ids[:4]
    dis_email, dis_resub, dis_ok = ids[4:]
    with sandbox(account=account, import_delay_s=0.02) as sb:
        # changes made "by hand" after the plan
        account.contacts[inv_email].email = "someone.else@good.example"
        account.delete_contact(inv_gone)
        account.set_membership(inv_resub, 1, 2, now=later())
        account.set_membership(inv_resub, 1, 1, now=later())  # unsubscribed, then resubscribed
        account.contacts[dis_email].email = "new.owner@good.example"
        account.set_membership(dis_resub, 3, 1, now=later())  # resubscribed to list 3
        report = run_apply(sb, plan, sqlite_url, tmp_path)
    assert outcome(report, inv_email)[1].startswith("email_changed")
    assert outcome(report, inv_gone)[1].startswith("contact_deleted")
    assert outcome(report, inv_resub)[1].startswith("subscription_changed")
    assert outcome(report, dis_email)[1].startswith("email_changed")
    assert outcome(report, dis_resub)[1].startswith("subscription_changed")
    assert (
        account.membership(inv_resub, 1).status == 1
        and account.membership(inv_resub, 2).status == 1
    )
    assert account.membership(inv_email, 1).status == 1
    assert dis_email in account.contacts and dis_resub in account.contacts
    assert outcome(report, inv_ok)[0] == "done" and account.membership(inv_ok, 1).status == 2
    assert outcome(report, dis_ok) == ("done", "deleted") and dis_ok not in account.contacts


def test_backup_delete_restore_gives_back_an_equal_contact(sandbox, sqlite_url, tmp_path) -> None:
    account, plan = build_account({"disposable": 3, "valid": 2})
    deleted_ids = plan.filter(pl.col("category") == "disposable")["contact_id"].to_list()
    before = {cid: snapshot(account, cid) for cid in deleted_ids}
    with sandbox(account=account, import_delay_s=0.02) as sb:
        report = run_apply(sb, plan, sqlite_url, tmp_path, run_id="run-del")
        assert report.backup_file is not None
        backed_up = {r.contact_id: r for r in read_backup(report.backup_file)}
        assert set(backed_up) == set(deleted_ids)
        assert "feedface" not in report.backup_file.read_text()  # no key in the backup
        assert all(cid not in account.contacts for cid in deleted_ids)

        async def go(contact_id=None):
            records = backup_records(tmp_path / "backups", "acme", "run-del", contact_id)
            async with ActiveCampaignClient(sb.connection(), **FAST) as client:
                return await restore(client, records)

        one = asyncio.run(go(deleted_ids[0]))
        assert [r.status for r in one] == ["restored"]
        assert snapshot(account, one[0].new_id) == before[deleted_ids[0]]
        everything = asyncio.run(go())
    by_old = {r.old_id: r for r in everything}
    assert by_old[deleted_ids[0]].status == "already_present"
    assert by_old[deleted_ids[0]].new_id == one[0].new_id
    for old in deleted_ids[1:]:
        assert by_old[old].status == "restored"
        assert snapshot(account, by_old[old].new_id) == before[old]
    assert len(account.contacts) == 5


def test_write_back_tags_and_field(sandbox, sqlite_url, tmp_path) -> None:
    account, plan = build_account({"valid": 2, "invalid": 2, "catch_all": 1, "disposable": 1})
    write_back = WriteBack(
        tags={
            "valid": "Email: valid",
            "invalid": "Email: invalid",
            "catch_all": "Email: catch-all",
        },
        field_title="Email verification",
    )
    with sandbox(account=account, import_delay_s=0.02) as sb:
        report = run_apply(sb, plan, sqlite_url, tmp_path, write_back=write_back)
        assert sb.stats.requests["POST /api/3/import/bulk_import"] == 1  # tags ride along
    assert report.unresolved == 0
    field = next(f for f in account.fields.values() if f.title == "Email verification")
    for cid, category, action in plan.select("contact_id", "category", "action").iter_rows():
        if action == "delete":
            assert cid not in account.contacts
            continue
        names = {account.tags[t.tag].tag for t in account.tags_of(cid)}
        assert names == {"vip", write_back.tags[category]}
        values = {v.field: v.value for v in account.field_values_of(cid)}
        assert values[field.id].startswith(f"{category} 20")
        assert values[1].startswith("Country")  # the other field untouched
        expected = 2 if action == "unsubscribe" else 1
        assert account.membership(cid, 1).status == expected


def test_dry_run_sends_nothing(sandbox, sqlite_url, tmp_path) -> None:
    account, plan = build_account(MIX)
    before = {cid: snapshot(account, cid) for cid in account.contacts}

    async def go(sb):
        async with ActiveCampaignClient(sb.connection(), **FAST) as client:
            return await apply_plan(
                client,
                plan,
                journal=None,
                connection="acme",
                partition="2026-12|all",
                run_id="dry",
                backups_dir=tmp_path / "backups",
                options=ApplyOptions(planned_at=PLANNED_AT, dry_run=True),
            )

    with sandbox(account=account) as sb:
        report = asyncio.run(go(sb))
        assert _writes(sb) == 0
    assert {cid: snapshot(account, cid) for cid in account.contacts} == before
    assert not (tmp_path / "backups").exists()
    deletes = [r for r in report.dry_run_requests if r["request"].startswith("DELETE")]
    imports = [r for r in report.dry_run_requests if "bulk_import" in r["request"]]
    assert len(deletes) == 3 and len(imports) == 1
    body = imports[0]["body"]["contacts"]
    assert len(body) == 5 and all(c["unsubscribe"] == [{"listid": 1}, {"listid": 2}] for c in body)


def test_a_rebuilt_plan_reopens_only_what_changed(sandbox, db_url, tmp_path) -> None:
    account, plan = build_account({"valid": 2, "invalid": 2, "disposable": 1})
    with sandbox(account=account, import_delay_s=0.02) as sb:
        run_apply(sb, plan, db_url, tmp_path)
        writes = _writes(sb)
        # re-verified: a kept contact turns out invalid; everything else as before
        valid_id = plan.filter(pl.col("category") == "valid")["contact_id"][0]
        replanned = plan.with_columns(
            category=pl.when(pl.col("contact_id") == valid_id)
            .then(pl.lit("invalid"))
            .otherwise(pl.col("category")),
            action=pl.when(pl.col("contact_id") == valid_id)
            .then(pl.lit("unsubscribe"))
            .otherwise(pl.col("action")),
            list_ids=pl.when(pl.col("contact_id") == valid_id)
            .then(pl.lit([1, 2]))
            .otherwise(pl.col("list_ids")),
        )
        report = run_apply(sb, replanned, db_url, tmp_path, run_id="run-2")
        assert _writes(sb) == writes + 1  # one import, for the one changed contact
    assert outcome(report, valid_id)[0] == "done"
    assert account.membership(valid_id, 1).status == 2
    assert report.sent_by_this_run["DELETE /contacts/{id}"] == 0

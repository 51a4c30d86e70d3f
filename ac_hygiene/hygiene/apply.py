"""Apply a reviewed clean plan to ActiveCampaign: safely, and exactly once.

The order of one run (see also `journal`, `backup`, `guardrails`):

1. The plan's rows are journaled (`pending`); rows a previous run finished are left alone.
2. Recovery: rows a killed run left `sending` (sent, answer lost) or `unknown` are re-checked
   against the account first: a delete whose contact is gone is done; an unsubscribe whose lists
   already read "unsubscribed" is done; an import batch whose id was journaled is read back from
   `/import/info`. Only what the account shows as not applied goes back to `pending`.
3. Unsubscribes (and Keep rows when write-back is on): contacts re-read 100 a request
   (`ids[]`, with lists, tags and field values) just before their write; a contact deleted, whose
   email changed, or whose subscription on a planned list changed since the plan (resubscribed
   by hand) is skipped and reported, never overwritten. The rest go out through bulk import,
   250 contacts (< 400,000 bytes) a request, `unsubscribe` naming only the plan's lists the
   contact is still active on. Each batch is journaled `sending` before it is sent and its batch
   id after; `/import/info` is polled when the batch is due, while the next batches and the
   deletes keep the account's 5 req/s busy, and its result reconciled email by email.
4. Deletes: re-read 100 at a time, the same skips, then per contact: backup line (fsync) →
   journal `sending` → `DELETE /contacts/{id}` → journal `done`.

Hard rules that no plan can override: a delete is only sent for `invalid` / `disposable`
(definite results); an unsubscribe only touches the plan's `list_ids`. This module knows nothing
of Dagster; the `applied_actions` asset and `ac-hygiene apply` call `apply_plan`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl

from ac_hygiene.activecampaign.client import ActiveCampaignClient
from ac_hygiene.activecampaign.errors import (
    ActiveCampaignError,
    NotFound,
    ValidationFailed,
    WriteOutcomeUnknown,
)
from ac_hygiene.activecampaign.writes import (
    MAX_CONTACTS_PER_IMPORT,
    ContactRecord,
    ImportContact,
    delete_contact,
    ensure_field,
    import_status,
    read_contacts,
    reconcile_import,
    split_batches,
    submit_import,
)
from ac_hygiene.hygiene.backup import BackupWriter, backup_path
from ac_hygiene.hygiene.journal import (
    DONE,
    FAILED,
    FINAL_STATES,
    PENDING,
    SENDING,
    SKIPPED,
    UNKNOWN,
    ApplyJournal,
    JournalRow,
    Mark,
)
from ac_hygiene.hygiene.policy import DELETABLE_CATEGORIES
from ac_hygiene.schemas import AppliedActions

log = logging.getLogger(__name__)

ACTIVE, UNSUBSCRIBED = 1, 2
READ_CHUNK = 100


@dataclass(frozen=True)
class WriteBack:
    """Optional marks on the contacts (off by default): a tag per category and/or a text custom
    field holding `<category> <YYYY-MM-DD>`. Tags are created by bulk import when missing; the
    field is created on first use."""

    tags: Mapping[str, str] = field(default_factory=dict)  # category -> tag name
    field_title: str | None = None

    @property
    def enabled(self) -> bool:
        return bool(self.tags) or bool(self.field_title)


@dataclass(frozen=True)
class ApplyOptions:
    planned_at: datetime | None = None  # subscriptions changed after this are left alone
    write_back: WriteBack = field(default_factory=WriteBack)
    dry_run: bool = False
    # ActiveCampaign answers `status: false` for about a second after queueing and a batch
    # takes seconds: polling sooner only costs requests (the next batches and deletes go on).
    first_poll_s: float = 2.0  # until a batch's real duration has been seen
    import_timeout_s: float = 900.0
    # A batch whose answer was lost is judged from the account only once it is this old.
    lost_import_grace_s: float = 60.0


@dataclass
class ApplyReport:
    """What one run did: one row per plan contact (schema AppliedActions), requests, previews."""

    actions: pl.DataFrame
    requests: Counter[str]
    sent_by_this_run: Counter[str]
    deleted_preview: list[dict[str, Any]]
    backup_file: Path | None
    dry_run_requests: list[dict[str, Any]]
    unresolved: int
    wall_s: float

    def counts(self) -> dict[str, int]:
        """`<action>_<outcome>` counts (every combination present)."""
        out = {
            f"{a}_{o}": 0
            for a in ("keep", "unsubscribe", "delete")
            for o in ("done", "skipped", "failed")
        }
        for action, outcome, n in self.actions.group_by("action", "outcome").len().iter_rows():
            out[f"{action}_{outcome}"] = n
        return out

    def skipped_reasons(self) -> dict[str, int]:
        skipped = self.actions.filter(pl.col("outcome") == "skipped")
        reasons = skipped.select(pl.col("detail").str.split(":").list.first().alias("r"))
        return dict(reasons.group_by("r").len().sort("r").iter_rows())


@dataclass
class _Batch:
    batch_id: str
    contacts: list[ImportContact]
    by_email: dict[str, int]  # email as sent -> contact id
    sent_at: float
    next_poll: float
    polls: int = 0


def _parse_ac_date(value: str | None) -> datetime | None:
    if not value or value.startswith("0000"):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace(" ", "T").replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _changed_since(
    record: ContactRecord, list_ids: Sequence[int] | None, at: datetime | None
) -> list[int]:
    """Lists (all, or `list_ids`) whose membership changed after `at` (resubscribed by hand...)."""
    if at is None:
        return []
    wanted = None if list_ids is None else set(list_ids)
    changed = []
    for m in record.memberships:
        if wanted is not None and m.list_id not in wanted:
            continue
        when = _parse_ac_date(m.udate) or _parse_ac_date(m.sdate)
        if when is not None and when > at:
            changed.append(m.list_id)
    return changed


def check_contact(
    row: JournalRow, record: ContactRecord | None, planned_at: datetime | None
) -> tuple[str | None, list[int]]:
    """(skip reason or None, lists to unsubscribe) for one planned row against the account now."""
    if record is None:
        return "contact_deleted: the contact no longer exists in the account", []
    if (row.email or "") != record.email:
        return f"email_changed: now {record.email!r}", []
    if row.action == "delete":
        changed = _changed_since(record, None, planned_at)
        if changed:
            return f"subscription_changed: lists {changed} changed since the plan", []
        return None, []
    changed = _changed_since(record, row.list_ids, planned_at)
    if changed:
        return f"subscription_changed: lists {changed} changed since the plan", []
    if row.action != "unsubscribe":
        return None, []
    status = {m.list_id: m.status for m in record.memberships}
    active = [lid for lid in row.list_ids if status.get(lid) == ACTIVE]
    if not active:
        return "no_active_list: not active on any planned list", []
    return None, active


class _Applier:
    def __init__(
        self,
        client: ActiveCampaignClient,
        journal: ApplyJournal | None,
        connection: str,
        partition: str,
        run_id: str,
        backups_dir: Path,
        options: ApplyOptions,
        progress: Callable[[str], None],
    ) -> None:
        self.client = client
        self.journal = journal
        self.connection = connection
        self.partition = partition
        self.run_id = run_id
        self.options = options
        self.progress = progress
        self.requests: Counter[str] = Counter()
        self.sent: Counter[str] = Counter()
        self.outstanding: list[_Batch] = []
        self.batch_latency: float | None = None
        self.backup = BackupWriter(backup_path(backups_dir, connection, run_id))
        self.backup_used = False
        self.deleted: list[dict[str, Any]] = []
        self.dry: list[dict[str, Any]] = []
        self.state: dict[int, JournalRow] = {}
        self.field_id: int | None = None
        self.today = datetime.now(UTC).date().isoformat()

    # -- journal -----------------------------------------------------------------------------
    def mark(self, marks: Sequence[Mark]) -> None:
        if not marks:
            return
        if self.journal is not None and not self.options.dry_run:
            self.journal.mark(self.connection, self.partition, marks, self.run_id)
        for m in marks:
            old = self.state[m.contact_id]
            self.state[m.contact_id] = JournalRow(
                **{
                    **old.__dict__,
                    "state": m.state,
                    "detail": m.detail,
                    "batch_id": m.batch_id,
                    "run_id": self.run_id,
                }
            )

    async def reread(self, ids: Sequence[int]) -> dict[int, ContactRecord]:
        found, n = await read_contacts(self.client, ids)
        self.requests["GET /contacts (re-read)"] += n
        return found

    # -- the run -----------------------------------------------------------------------------
    async def run(self, rows: list[JournalRow]) -> None:
        self.state = {r.contact_id: r for r in rows}
        await self.recover()
        write_back = self.options.write_back
        if write_back.field_title:
            self.requests["GET /fields"] += 1
            self.field_id = await ensure_field(
                self.client, write_back.field_title, create=not self.options.dry_run
            )
            if self.field_id is None:  # dry run: the field would be created first
                self.dry.append(
                    {
                        "request": "POST /api/3/fields",
                        "body": {"field": {"title": write_back.field_title, "type": "text"}},
                    }
                )
                self.field_id = 0
        pending = [r for r in self.state.values() if r.state == PENDING]
        keeps = [r for r in pending if r.action == "keep"]
        imports = [r for r in pending if r.action == "unsubscribe"]
        marked = [r for r in keeps if write_back.field_title or write_back.tags.get(r.category)]
        imports += marked
        marked_ids = {r.contact_id for r in marked}
        quiet = [r for r in keeps if r.contact_id not in marked_ids]
        self.mark([Mark(r.contact_id, DONE, "keep: nothing to write") for r in quiet])
        nothing = [r for r in imports if r.action == "unsubscribe" and not r.list_ids]
        self.mark(
            [Mark(r.contact_id, SKIPPED, "no_active_list: nothing in scope") for r in nothing]
        )
        imports = [r for r in imports if not (r.action == "unsubscribe" and not r.list_ids)]
        deletes = [r for r in pending if r.action == "delete"]
        refused = [r for r in deletes if r.category not in DELETABLE_CATEGORIES]
        self.mark(
            [
                Mark(r.contact_id, FAILED, f"refused: never delete a {r.category} result")
                for r in refused
            ]
        )
        deletes = [r for r in deletes if r.category in DELETABLE_CATEGORIES]
        self.progress(
            f"{len(imports):,} contact(s) to update by bulk import, {len(deletes):,} to delete"
        )
        await self.run_imports(sorted(imports, key=lambda r: r.contact_id))
        await self.run_deletes(sorted(deletes, key=lambda r: r.contact_id))
        await self.drain()

    # -- recovery ----------------------------------------------------------------------------
    async def recover(self) -> None:
        open_rows = [r for r in self.state.values() if r.state in (SENDING, UNKNOWN)]
        if not open_rows:
            return
        self.progress(f"re-checking {len(open_rows):,} action(s) a previous run left unfinished")
        by_batch: dict[str, list[JournalRow]] = {}
        loose: list[JournalRow] = []
        for row in open_rows:
            if row.batch_id and row.action != "delete":
                by_batch.setdefault(row.batch_id, []).append(row)
            else:
                loose.append(row)
        for batch_id, members in by_batch.items():
            self.requests["GET /import/info"] += 1
            try:
                info = await import_status(self.client, batch_id)
            except ActiveCampaignError:
                info = None
            if info is None:
                loose += members  # not final or unreadable: judge from the account itself
                continue
            batch = [ImportContact(email=r.email or "") for r in members]
            result = await reconcile_import(self.client, batch, info)
            self.mark(
                self._import_marks(result, {r.email or "": r.contact_id for r in members}, batch_id)
            )
        if not loose:
            return
        await self._let_lost_imports_land(loose)
        records = await self.reread([r.contact_id for r in loose])
        marks = []
        for row in loose:
            record = records.get(row.contact_id)
            if row.action == "delete":
                if record is None:
                    marks.append(
                        Mark(row.contact_id, DONE, "deleted (answer lost; confirmed gone)")
                    )
                else:
                    marks.append(Mark(row.contact_id, PENDING, "re-check: not deleted yet"))
                continue
            if record is None:
                marks.append(
                    Mark(row.contact_id, SKIPPED, "contact_deleted: gone before its write")
                )
                continue
            if self._looks_applied(row, record):
                marks.append(
                    Mark(row.contact_id, DONE, "applied (answer lost; confirmed in account)")
                )
            else:
                marks.append(Mark(row.contact_id, PENDING, "re-check: not applied yet"))
        self.mark(marks)

    async def _let_lost_imports_land(self, loose: list[JournalRow]) -> None:
        """An import whose answer was lost may still be queued: reading the contacts before it
        ran would send its changes a second time. Wait until the newest such batch is
        `lost_import_grace_s` old before judging it from the account."""
        sent = [
            r.updated_at if r.updated_at.tzinfo else r.updated_at.replace(tzinfo=UTC)
            for r in loose
            if r.action != "delete"
        ]
        if not sent:
            return
        age = (datetime.now(UTC) - max(sent)).total_seconds()
        wait = self.options.lost_import_grace_s - age
        if wait > 0:
            self.progress(f"waiting {wait:.0f} s for an import whose answer was lost to finish")
            await asyncio.sleep(wait)

    def _looks_applied(self, row: JournalRow, record: ContactRecord) -> bool:
        status = {m.list_id: m.status for m in record.memberships}
        if row.action == "unsubscribe" and any(status.get(i) == ACTIVE for i in row.list_ids):
            return False
        # A keep's tag write is state-setting: re-sending it is harmless.
        return not (self.options.write_back.enabled and row.action == "keep")

    # -- unsubscribes (+ write-back) by bulk import -------------------------------------------
    def _import_contact(
        self, row: JournalRow, record: ContactRecord, lists: list[int]
    ) -> ImportContact:
        wb = self.options.write_back
        tag = wb.tags.get(row.category)
        fields = (
            ((self.field_id, f"{row.category} {self.today}"),) if self.field_id is not None else ()
        )
        return ImportContact(
            email=record.email,
            unsubscribe=tuple(lists),
            tags=(tag,) if tag else (),
            fields=fields,  # type: ignore[arg-type]
        )

    async def run_imports(self, rows: list[JournalRow]) -> None:
        ready: list[tuple[JournalRow, ImportContact]] = []
        for start in range(0, len(rows), READ_CHUNK):
            chunk = rows[start : start + READ_CHUNK]
            records = await self.reread([r.contact_id for r in chunk])
            skips = []
            for row in chunk:
                reason, lists = check_contact(
                    row, records.get(row.contact_id), self.options.planned_at
                )
                if reason:
                    skips.append(Mark(row.contact_id, SKIPPED, reason))
                else:
                    ready.append((row, self._import_contact(row, records[row.contact_id], lists)))
            self.mark(skips)
            while len(ready) >= MAX_CONTACTS_PER_IMPORT:
                ready = await self.send_batches(ready, final=False)
            await self.poll_due()
            done = start + len(chunk)
            if done % 2_000 < READ_CHUNK and done < len(rows):
                self.progress(f"imports: {done:,} / {len(rows):,} contacts re-checked and queued")
        while ready:
            ready = await self.send_batches(ready, final=True)

    async def send_batches(
        self, ready: list[tuple[JournalRow, ImportContact]], final: bool
    ) -> list[tuple[JournalRow, ImportContact]]:
        """Send the first full batch of `ready` (all of it when `final`); return the rest."""
        batches = split_batches([c for _, c in ready])
        first = batches[0]
        if not final and len(first) < MAX_CONTACTS_PER_IMPORT and len(batches) == 1:
            return ready
        members, rest = ready[: len(first)], ready[len(first) :]
        by_email = {c.email: row.contact_id for row, c in members}
        if self.options.dry_run:
            self.dry.append(
                {
                    "request": "POST /api/3/import/bulk_import",
                    "body": {"contacts": [c.to_json() for c in first]},
                }
            )
            self.mark([Mark(r.contact_id, DONE, "dry run: would be imported") for r, _ in members])
            return rest
        self.mark([Mark(r.contact_id, SENDING, "import sent") for r, _ in members])
        self.requests["POST /import/bulk_import"] += 1
        self.sent["POST /import/bulk_import"] += 1
        try:
            batch_id = await submit_import(self.client, first)
        except WriteOutcomeUnknown as exc:
            log.warning("bulk import: outcome unknown (%s); re-checked on the next run", exc)
            self.mark(
                [
                    Mark(r.contact_id, UNKNOWN, "import answer lost: re-checked on re-run")
                    for r, _ in members
                ]
            )
            return rest
        except ValidationFailed as exc:
            self.mark([Mark(r.contact_id, FAILED, f"import refused: {exc}") for r, _ in members])
            return rest
        self.mark([Mark(r.contact_id, SENDING, "import queued", batch_id) for r, _ in members])
        now = time.monotonic()
        delay = self.batch_latency if self.batch_latency is not None else self.options.first_poll_s
        self.outstanding.append(_Batch(batch_id, list(first), by_email, now, now + max(0.2, delay)))
        return rest

    async def poll_due(self, wait: bool = False) -> None:
        """Poll the batches that are due; with `wait`, sleep until the next one is."""
        while self.outstanding:
            now = time.monotonic()
            due = [b for b in self.outstanding if b.next_poll <= now]
            if not due:
                if not wait:
                    return
                await asyncio.sleep(min(b.next_poll for b in self.outstanding) - now)
                continue
            # Batches finish in the order they were queued: while the oldest is still running,
            # asking about the younger ones would only cost requests.
            for batch in due:
                finished = await self.poll(batch)
                if not finished:
                    break
            if not wait:
                return

    async def poll(self, batch: _Batch) -> bool:
        """Poll one batch; True when it is settled (reconciled or given up)."""
        self.requests["GET /import/info"] += 1
        batch.polls += 1
        try:
            info = await import_status(self.client, batch.batch_id)
        except ActiveCampaignError as exc:
            log.warning("import batch %s: status unreadable (%s)", batch.batch_id, exc)
            info = None
            if batch.polls >= 3:
                self._give_up(batch, "import status unreadable: re-checked on re-run")
                return True
        now = time.monotonic()
        if info is None:
            if now - batch.sent_at > self.options.import_timeout_s:
                self._give_up(batch, "import not finished in time: re-checked on re-run")
                return True
            batch.next_poll = now + min(5.0, max(0.5, (now - batch.sent_at) * 0.75))
            for younger in self.outstanding:  # they cannot finish before this one
                younger.next_poll = max(younger.next_poll, batch.next_poll)
            return False
        if batch.polls == 1 or self.batch_latency is None:
            latency = now - batch.sent_at
            self.batch_latency = (
                latency
                if self.batch_latency is None
                else min(self.batch_latency * 1.2, max(self.batch_latency, latency))
            )
        self.outstanding.remove(batch)
        result = await reconcile_import(self.client, batch.contacts, info)
        self.mark(self._import_marks(result, batch.by_email, batch.batch_id))
        return True

    def _give_up(self, batch: _Batch, detail: str) -> None:
        self.outstanding.remove(batch)
        self.mark([Mark(cid, UNKNOWN, detail, batch.batch_id) for cid in batch.by_email.values()])

    def _import_marks(self, result: Any, by_email: Mapping[str, int], batch_id: str) -> list[Mark]:
        marks = []
        for email in result.imported:
            marks.append(Mark(by_email[email], DONE, f"imported (batch {batch_id})", batch_id))
        for email, reason in result.failed.items():
            marks.append(Mark(by_email[email], FAILED, f"import failed: {reason}", batch_id))
        for email in result.skipped:
            marks.append(
                Mark(
                    by_email[email],
                    SKIPPED,
                    "excluded_by_account: the import skipped it (exclusion list)",
                    batch_id,
                )
            )
        for email in result.unknown:
            marks.append(Mark(by_email[email], UNKNOWN, "import outcome unknown", batch_id))
        return marks

    async def drain(self) -> None:
        await self.poll_due(wait=True)

    # -- deletes -----------------------------------------------------------------------------
    async def run_deletes(self, rows: list[JournalRow]) -> None:
        for start in range(0, len(rows), READ_CHUNK):
            chunk = rows[start : start + READ_CHUNK]
            records = await self.reread([r.contact_id for r in chunk])
            for row in chunk:
                record = records.get(row.contact_id)
                reason, _ = check_contact(row, record, self.options.planned_at)
                if reason:
                    self.mark([Mark(row.contact_id, SKIPPED, reason)])
                    continue
                assert record is not None
                await self.delete_one(row, record)
                await self.poll_due()
            done = start + len(chunk)
            if done % 500 < READ_CHUNK and done < len(rows):
                self.progress(f"deletes: {done:,} / {len(rows):,} handled")

    async def delete_one(self, row: JournalRow, record: ContactRecord) -> None:
        path = f"/contacts/{row.contact_id}"
        if self.options.dry_run:
            self.dry.append({"request": f"DELETE /api/3{path}", "email": record.email})
            self.mark([Mark(row.contact_id, DONE, "dry run: would be deleted")])
            return
        self.backup.write(record, self.partition)  # durable (fsync) before the delete is sent
        self.backup_used = True
        self.mark([Mark(row.contact_id, SENDING, "delete sent")])
        self.requests["DELETE /contacts/{id}"] += 1
        self.sent["DELETE /contacts/{id}"] += 1
        try:
            outcome = await delete_contact(self.client, row.contact_id)
        except WriteOutcomeUnknown:
            self.mark([Mark(row.contact_id, UNKNOWN, "delete answer lost: re-checked on re-run")])
            return
        except NotFound:
            outcome = "already_gone"
        except ActiveCampaignError as exc:
            self.mark([Mark(row.contact_id, FAILED, f"delete failed: {exc}")])
            return
        detail = "deleted" if outcome == "deleted" else "deleted (already gone)"
        self.mark([Mark(row.contact_id, DONE, detail)])
        if len(self.deleted) < 20:
            self.deleted.append(
                {"contact_id": row.contact_id, "email": record.email, "category": row.category}
            )


def _journal_rows(plan: pl.DataFrame) -> list[dict[str, Any]]:
    return plan.select("contact_id", "action", "category", "email", "list_ids").to_dicts()


def _actions_frame(rows: Sequence[JournalRow]) -> pl.DataFrame:
    outcomes = []
    for r in rows:
        if r.state in FINAL_STATES:
            outcome, detail = r.state, r.detail
        else:
            outcome, detail = FAILED, f"unresolved ({r.state}): {r.detail or ''}; run apply again"
        outcomes.append(
            {
                "contact_id": r.contact_id,
                "action": r.action,
                "outcome": outcome,
                "detail": detail,
                "applied_at": r.updated_at
                if r.updated_at.tzinfo
                else r.updated_at.replace(tzinfo=UTC),
            }
        )
    schema = {
        "contact_id": pl.Int64,
        "action": pl.String,
        "outcome": pl.String,
        "detail": pl.String,
        "applied_at": pl.Datetime("us", "UTC"),
    }
    frame = pl.DataFrame(outcomes, schema=schema)
    return AppliedActions.validate(frame)


async def apply_plan(
    client: ActiveCampaignClient,
    plan: pl.DataFrame,
    *,
    journal: ApplyJournal | None,
    connection: str,
    partition: str,
    run_id: str,
    backups_dir: Path,
    options: ApplyOptions | None = None,
    progress: Callable[[str], None] = log.info,
) -> ApplyReport:
    """Apply `plan` (schema CleanPlan) to the account behind `client`; see the module doc.

    Guardrails are the caller's job (`guardrails.GuardVerdict.enforce`) and come first. With
    `options.dry_run` nothing is written anywhere (account, journal, backup): the report's
    `dry_run_requests` is exactly what would be sent given the account as it is now.
    """
    options = options or ApplyOptions()
    started = time.monotonic()
    fresh = [
        JournalRow(
            int(r["contact_id"]),
            r["action"],
            r["category"],
            r["email"],
            tuple(r["list_ids"] or ()),
            PENDING,
            None,
            None,
            None,
            datetime.now(UTC),
        )
        for r in _journal_rows(plan)
    ]
    if journal is None:
        if not options.dry_run:
            raise ValueError("a real apply needs the journal (exactly once); pass one")
        rows = fresh
    elif options.dry_run:  # what is left to do, the journal untouched
        done = {r.contact_id: r for r in journal.rows(connection, partition)}
        rows = [done.get(r.contact_id, r) for r in fresh]
    else:
        journal.register(connection, partition, _journal_rows(plan))
        journal.replan(connection, partition, _journal_rows(plan))
        planned = set(plan["contact_id"].to_list())
        rows = [r for r in journal.rows(connection, partition) if r.contact_id in planned]
    applier = _Applier(
        client, journal, connection, partition, run_id, backups_dir, options, progress
    )
    try:
        await applier.run(rows)
    finally:
        applier.backup.close()
    final = sorted(applier.state.values(), key=lambda r: r.contact_id)
    frame = _actions_frame(final)
    return ApplyReport(
        actions=frame,
        requests=applier.requests,
        sent_by_this_run=applier.sent,
        deleted_preview=applier.deleted,
        backup_file=applier.backup.path if applier.backup_used else None,
        dry_run_requests=applier.dry,
        unresolved=sum(1 for r in final if r.state not in FINAL_STATES),
        wall_s=time.monotonic() - started,
    )

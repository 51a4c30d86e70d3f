"""`POST /import/bulk_import` and `GET /import/info`: ActiveCampaign's asynchronous bulk import.

Order of checks on a request (each refusal is HTTP 400 with `success: 0`; the documented bodies are
used where the reference gives them, the others follow their pattern):
1. body of 400,000 bytes or more, body not JSON, no `contacts` array, more than 250 contacts;
2. the import quota: 100 multi-contact or 20 single-contact requests in any 60 s (requests that
   pass step 1 count, whatever step 3 decides; refused ones do not);
3. whole-batch validation: one contact without a well-formed email (or with a malformed `tags`,
   `fields`, `subscribe`, `unsubscribe`) rejects the batch, `failureReasons` naming each by index.

An accepted batch answers `{"success":1,"queued_contacts":N,"batchId":...}` at once and is
applied when it completes: `import/info` reports `status: false` (not registered yet) for one
stage, then `waiting`, then `active`, then `completed` (each stage `stage_s` long; ~1 s live,
fast in tests). An unknown batch id also answers `status: false`: the real API cannot tell "not
registered yet" from "never existed", so clients must give up after a while. Applying a contact:
- addresses on the account's exclusion list are skipped silently (in neither result list);
- addresses that a full syntax check refuses (`invalid.email@invalidDomain`) fail, as do
  references to unknown lists or custom fields; failures are listed by email and leave the
  contact untouched;
- the contact is matched by exact email, then case-insensitively (a case variant updates the
  existing contact, it does not create a second one), else created;
- tags are matched by name case-insensitively and created if missing; `subscribe` does not
  resubscribe a contact that unsubscribed from the list (as the API reference warns);
  `unsubscribe` sets status 2, creating the membership row if needed.
Batches apply in creation order, lazily when a request arrives (`settle`): every observation of
the state is a request, so none can see a completed batch unapplied.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from email_validator import EmailNotValidError, validate_email

from ac_hygiene.sandbox.activecampaign.account import SandboxAccount
from ac_hygiene.sandbox.activecampaign.rate_limit import WindowQuota
from ac_hygiene.sandbox.activecampaign.records import ACTIVE, UNSUBSCRIBED

MAX_CONTACTS = 250
MAX_BYTES = 400_000
MULTI_PER_MINUTE = 100
SINGLE_PER_MINUTE = 20
STAGES = (False, "waiting", "active", "completed")

NOT_VALID = (
    "JSON payload did not pass validation. Please fix failure Reasons and retry. "
    "The import was not queued for processing."
)
RATE_LIMITED = "Rate limit exceeded."
MULTI_QUOTA = (
    "Up to 100 imports may be requested per minute.Please batch contacts into larger requests, "
    "or retry this request in a minute."
)
SINGLE_QUOTA = (
    "Up to 20 single-contact imports may be requested per minute.Please batch contacts into "
    "larger requests, or retry this request in a minute."
)
EMAIL_FORMAT = "Field\u2018 email\u2019 incorrect format"


@dataclass(eq=False)
class ImportBatch:
    id: str
    created: float
    contacts: list[dict[str, Any]]
    success: list[str] = field(default_factory=list)
    failure: list[str] = field(default_factory=list)
    applied: bool = False


class ImportQueue:
    def __init__(
        self, account: SandboxAccount, clock: Callable[[], float], stage_s: float = 1.0
    ) -> None:
        if stage_s < 0:
            raise ValueError(f"import_delay_s must not be negative, got {stage_s}")
        self.account = account
        self.clock = clock
        self.stage_s = stage_s
        self.batches: dict[str, ImportBatch] = {}
        self._pending: list[ImportBatch] = []
        self._multi = WindowQuota(MULTI_PER_MINUTE, 60.0, clock)
        self._single = WindowQuota(SINGLE_PER_MINUTE, 60.0, clock)
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ requests
    def submit(self, raw: bytes) -> tuple[int, dict[str, Any]]:
        """(HTTP status, JSON body) for one bulk-import request."""
        if len(raw) >= MAX_BYTES:
            return 400, _refusal(
                f"The request payload is {len(raw)} bytes; it must be under 400,000 bytes. "
                "Split the contacts into smaller requests."
            )
        try:
            payload = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError):
            return 400, _refusal("The request body is not valid JSON.")
        contacts = payload.get("contacts") if isinstance(payload, dict) else None
        if not isinstance(contacts, list) or not contacts:
            return 400, _refusal("'contacts' is a required field: an array of 1 to 250 contacts.")
        if len(contacts) > MAX_CONTACTS:
            return 400, _refusal(
                f"Up to 250 contacts may be included in a single request; got {len(contacts)}."
            )
        single = len(contacts) == 1
        if not (self._single if single else self._multi).try_take():
            return 400, {
                "success": 0,
                "message": RATE_LIMITED,
                "failureReasons": [SINGLE_QUOTA if single else MULTI_QUOTA],
            }
        reasons = [
            {"contact": i, "failureReason": reason}
            for i, item in enumerate(contacts)
            if (reason := _batch_check(item)) is not None
        ]
        if reasons:
            return 400, {"success": 0, "message": NOT_VALID, "failureReasons": reasons}
        batch = ImportBatch(id=str(uuid.uuid4()), created=self.clock(), contacts=contacts)
        with self._lock:
            self.batches[batch.id] = batch
            self._pending.append(batch)
        return 200, {
            "success": 1,
            "queued_contacts": len(contacts),
            "batchId": batch.id,
            "message": "Contact import queued",
        }

    def info(self, batch_id: str | None) -> tuple[int, dict[str, Any]]:
        if not batch_id:
            return 400, {"success": 0, "message": "'batchId' is a required field."}
        self.settle()
        batch = self.batches.get(batch_id)
        if batch is None:
            return 200, {"status": False, "success": [], "failure": []}
        status = self.status(batch)
        done = status == "completed"
        return 200, {
            "status": status,
            "success": list(batch.success) if done else [],
            "failure": list(batch.failure) if done else [],
        }

    def status(self, batch: ImportBatch) -> str | bool:
        if self.stage_s == 0:
            return "completed"
        stage = int((self.clock() - batch.created) / self.stage_s)
        return STAGES[min(max(stage, 0), len(STAGES) - 1)]

    # ------------------------------------------------------------------ applying
    def settle(self) -> None:
        """Apply every batch whose time has come, oldest first."""
        with self.account.lock:  # held throughout, so that two settles apply in order
            with self._lock:
                # Batches complete in creation order, so the due ones are a prefix of the queue.
                n = 0
                while n < len(self._pending) and self.status(self._pending[n]) == "completed":
                    n += 1
                due, self._pending = self._pending[:n], self._pending[n:]
            now = int(self.clock())
            for batch in due:
                for item in batch.contacts:
                    self._apply(batch, item, now)
                batch.applied = True

    def _apply(self, batch: ImportBatch, item: dict[str, Any], now: int) -> None:
        account = self.account
        email = item["email"].strip()
        if account.is_excluded(email):
            return
        try:
            validate_email(email, check_deliverability=False)
        except EmailNotValidError:
            batch.failure.append(email)
            return
        field_ids = [int(f["id"]) for f in item.get("fields") or ()]
        subscribe = [int(s["listid"]) for s in item.get("subscribe") or ()]
        unsubscribe = [int(s["listid"]) for s in item.get("unsubscribe") or ()]
        if any(f not in account.fields for f in field_ids) or any(
            lst not in account.lists for lst in subscribe + unsubscribe
        ):
            batch.failure.append(email)
            return
        matches = account.find_by_email(email)
        contact = next((c for c in matches if c.email == email), matches[0] if matches else None)
        names = {
            key: item[src]
            for key, src in (
                ("first_name", "first_name"),
                ("last_name", "last_name"),
                ("phone", "phone"),
            )
            if isinstance(item.get(src), str) and item[src]
        }
        if contact is None:
            contact = account.add_contact(email, cdate=now, **names)
        else:
            account.update_contact(contact.id, now=now, **names)
        for name in item.get("tags") or ():
            tag = account.find_tag(name) or account.add_tag(name.strip(), cdate=now)
            account.add_contact_tag(contact.id, tag.id, now=now)
        for spec, field_id in zip(item.get("fields") or (), field_ids, strict=True):
            account.set_field_value(contact.id, field_id, str(spec["value"]), now=now)
        for list_id in subscribe:
            existing = account.membership(contact.id, list_id)
            if existing is None or existing.status != UNSUBSCRIBED:
                account.set_membership(contact.id, list_id, ACTIVE, now=now)
        for list_id in unsubscribe:
            account.set_membership(contact.id, list_id, UNSUBSCRIBED, now=now)
        batch.success.append(str(contact.id))


def _refusal(reason: str) -> dict[str, Any]:
    return {"success": 0, "message": NOT_VALID, "failureReasons": [reason]}


def _is_int_like(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return True
    # ASCII digits only: str.isdigit() also accepts "²" and "٣", which int() refuses or misreads.
    return isinstance(value, str) and value.strip().isascii() and value.strip().isdigit()


def _batch_check(item: Any) -> str | None:
    """Why this contact rejects the whole batch, or None. The email check here is the coarse
    one ActiveCampaign applies on receipt; the full syntax check happens when the batch runs."""
    if not isinstance(item, dict):
        return "Each contact must be an object."
    email = item.get("email")
    if email is None:
        return "Field\u2018 email\u2019 is required"
    if not isinstance(email, str):
        return EMAIL_FORMAT
    local, at, domain = email.strip().partition("@")
    if (
        not at
        or not local
        or not domain
        or "@" in domain
        or any(ch.isspace() for ch in email.strip())
    ):
        return EMAIL_FORMAT
    tags = item.get("tags", [])
    if not isinstance(tags, list) or not all(isinstance(t, str) and t.strip() for t in tags):
        return "Field\u2018 tags\u2019 must be an array of tag names"
    fields = item.get("fields", [])
    if not isinstance(fields, list) or not all(
        isinstance(f, dict) and _is_int_like(f.get("id")) and "value" in f for f in fields
    ):
        return "Field\u2018 fields\u2019 must be an array of {id, value} objects"
    for key in ("subscribe", "unsubscribe"):
        lists = item.get(key, [])
        if not isinstance(lists, list) or not all(
            isinstance(s, dict) and _is_int_like(s.get("listid")) for s in lists
        ):
            return f"Field\u2018 {key}\u2019 must be an array of {{listid}} objects"
    return None

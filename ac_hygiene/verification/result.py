"""The verdict on one mailbox, how the layers combine into it, and the `verifications` frame.

Precedence, first match wins (reasons are the stable codes of `schemas.VERIFICATION_REASONS`).
The rule behind the order: `unknown` wins over every list flag. No DNS, no verdict: a disposable
hit whose DNS failed stays unknown, so nothing irreversible (Delete) can follow from it.

1. Syntax invalid (or no address at all) -> undeliverable `invalid_syntax`.
2. The resolver failed its canaries for this batch -> unknown `dns_unreliable` for every address
   (an NXDOMAIN-for-everything or unreachable resolver says nothing about any domain).
3. DNS says no mail can be delivered -> undeliverable `no_domain` / `null_mx` / `no_mail_server`.
   This outranks "disposable": a dead throwaway domain is simply undeliverable.
4. DNS failed (timeout, SERVFAIL) -> unknown `dns_error`, whatever the list flags say.
5. DNS switched off -> unknown `skipped`, whatever the list flags say.
6. A domain on the disposable list that is a typo of a popular provider (`gmial.com`, one edit
   from gmail.com) -> undeliverable `typo_domain`, with the suggestion, and not flagged
   disposable: the person mistyped their address, the list entry is a typo-squatter.
7. Disposable domain -> risky `disposable`. SMTP is skipped for these: disposable services accept
   everything, so a probe would spend a connection to learn nothing.
8. SMTP switched off -> unknown `skipped`.
9. The SMTP reply (see `replies`): not found (confirmed, see `smtp`) -> undeliverable; full ->
   risky `mailbox_full`; sender or client refused, server rejects all, greylisted, timeouts,
   unavailable, errors -> unknown with that reason.
10. Accepted: on a catch-all domain -> risky `catch_all`; a role account -> risky `role_account`
   (as Kickbox, Emailable and ZeroBounce file them); else deliverable `accepted`.

The flags (`is_disposable`, `is_role`, `is_free`, `is_catch_all`) and the typo suggestion are
reported whatever the status, so a plan can act on them independently.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import polars as pl

from ac_hygiene.schemas import Verifications, empty_frame
from ac_hygiene.verification import lists
from ac_hygiene.verification.cache import CACHED_COLUMNS

DELIVERABLE = "deliverable"
UNDELIVERABLE = "undeliverable"
RISKY = "risky"
UNKNOWN = "unknown"

# DNS outcomes (domain.py status codes) and the status each one means for an address.
DNS_UNDELIVERABLE = frozenset({"no_domain", "null_mx", "no_mail_server"})
DNS_ERROR = "dns_error"
DNS_UNRELIABLE = "dns_unreliable"


@dataclass(frozen=True, slots=True)
class Verification:
    """The verdict on one normalized mailbox: every Verifications column but the per-row ones."""

    email_normalized: str | None
    status: str
    reason: str
    checked_at: datetime
    is_disposable: bool = False
    is_role: bool = False
    is_free: bool = False
    is_catch_all: bool = False
    suggestion: str | None = None
    mx_host: str | None = None
    smtp_code: int | None = None
    from_cache: bool = False

    @property
    def cacheable(self) -> bool:
        """Unknown results are never stored: they must be retried next time."""
        return self.status != UNKNOWN and self.email_normalized is not None

    def cache_row(self) -> dict[str, Any]:
        return {column: getattr(self, column) for column in CACHED_COLUMNS}

    @classmethod
    def from_cache_row(cls, key: str, row: Mapping[str, Any]) -> Verification:
        """A stored row, tolerating naive datetimes (taken as UTC) from SQL stores."""
        checked_at = row["checked_at"]
        if isinstance(checked_at, datetime) and checked_at.tzinfo is None:
            checked_at = checked_at.replace(tzinfo=UTC)
        smtp_code = row.get("smtp_code")
        return cls(
            email_normalized=key,
            status=str(row["status"]),
            reason=str(row["reason"]),
            checked_at=checked_at,
            is_disposable=bool(row.get("is_disposable", False)),
            is_role=bool(row.get("is_role", False)),
            is_free=bool(row.get("is_free", False)),
            is_catch_all=bool(row.get("is_catch_all", False)),
            suggestion=row.get("suggestion"),
            mx_host=row.get("mx_host"),
            smtp_code=None if smtp_code is None else int(smtp_code),
            from_cache=True,
        )


def invalid(checked_at: datetime) -> Verification:
    return Verification(None, UNDELIVERABLE, "invalid_syntax", checked_at)


def combine(
    base: Verification,
    *,
    dns_status: str | None,
    smtp_status: str | None = None,
    smtp_reason: str | None = None,
    catch_all: bool | None = None,
) -> Verification:
    """Apply the precedence of the module docstring to one valid address.

    `base` carries the key, the list flags and the suggestion; `dns_status` is None when DNS was
    switched off, `smtp_*` None when SMTP did not run (switched off or not needed).
    """
    if dns_status == DNS_UNRELIABLE:
        return replace(base, status=UNKNOWN, reason=DNS_UNRELIABLE, mx_host=None)
    if dns_status in DNS_UNDELIVERABLE:
        return replace(base, status=UNDELIVERABLE, reason=dns_status, mx_host=None)
    if dns_status == DNS_ERROR:
        return replace(base, status=UNKNOWN, reason=DNS_ERROR, mx_host=None)
    if dns_status is None:
        return replace(base, status=UNKNOWN, reason="skipped")
    if is_typo_domain(base):
        return replace(base, status=UNDELIVERABLE, reason="typo_domain", is_disposable=False)
    if base.is_disposable:
        return replace(base, status=RISKY, reason="disposable")
    if smtp_status is None or smtp_reason is None:
        return replace(base, status=UNKNOWN, reason="skipped")
    if smtp_reason != "accepted":
        return replace(base, status=smtp_status, reason=smtp_reason)
    if catch_all:
        return replace(base, status=RISKY, reason="catch_all", is_catch_all=True)
    if base.is_role:
        return replace(base, status=RISKY, reason="role_account")
    return replace(base, status=DELIVERABLE, reason="accepted")


def is_typo_domain(base: Verification) -> bool:
    """A disposable-listed domain whose suggestion is a popular provider: a typo, not a service."""
    if not base.is_disposable or base.suggestion is None:
        return False
    return lists.is_free(base.suggestion.rpartition("@")[2])


def printable(email: Any) -> str | None:
    """The input as a storable string: lone surrogates (not UTF-8) become U+FFFD."""
    if not isinstance(email, str):
        return None
    try:
        email.encode("utf-8")
    except UnicodeEncodeError:
        return email.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
    return email


def to_frame(
    emails: Sequence[str | None],
    verdicts: Sequence[Verification],
    billable: Sequence[bool],
) -> pl.DataFrame:
    """The `verifications` frame: one row per input, in input order, exact schema dtypes."""
    schema = empty_frame(Verifications).schema
    columns: dict[str, list[Any]] = {
        "email": [printable(email) for email in emails],
        "email_normalized": [v.email_normalized for v in verdicts],
        "status": [v.status for v in verdicts],
        "reason": [v.reason for v in verdicts],
        "is_disposable": [v.is_disposable for v in verdicts],
        "is_role": [v.is_role for v in verdicts],
        "is_free": [v.is_free for v in verdicts],
        "is_catch_all": [v.is_catch_all for v in verdicts],
        "suggestion": [v.suggestion for v in verdicts],
        "mx_host": [v.mx_host for v in verdicts],
        "smtp_code": [v.smtp_code for v in verdicts],
        "checked_at": [v.checked_at for v in verdicts],
        "from_cache": [v.from_cache for v in verdicts],
        "billable": list(billable),
    }
    return pl.DataFrame(columns, schema=schema)

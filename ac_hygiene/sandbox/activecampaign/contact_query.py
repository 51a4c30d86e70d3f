"""`GET /contacts` filters and ordering, evaluated against a `SandboxAccount`.

The filters other than `id_greater`/`id_less` select a sorted id list that is cached per account
version; the id bounds then cut it with a bisect. Keyset paging over 100,000 contacts therefore
costs one scan for the whole walk, and a write between two pages changes the version, so the next
page sees the write (inserted ids land after the cursor, deleted ones vanish): keyset paging never
skips or repeats a contact, while offset paging shifts under deletions exactly as the real API
does.

`filters[created_after|created_before|updated_after|updated_before]` are dates, as the API types
them: whole days in the account's zone (`filter_day_start`), never a time of day.
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, time
from zoneinfo import ZoneInfo

from ac_hygiene.sandbox.activecampaign import timefmt
from ac_hygiene.sandbox.activecampaign.account import SandboxAccount
from ac_hygiene.sandbox.activecampaign.records import Contact

_DATE_FILTERS = ("created_after", "created_before", "updated_after", "updated_before")
# Real parameters the sandbox does not model. Ignoring them would answer every contact where the
# real API answers a subset, so a client relying on one gets a 400 that says so instead.
UNSUPPORTED = (
    "segmentid",
    "formid",
    "seriesid",
    "waitid",
    "phone",
    "organization",
    "sortId",
    "orders[cdate]",
    "orders[email]",
    "orders[first_name]",
    "orders[last_name]",
    "orders[name]",
    "orders[score]",
)


def filter_day_start(text: str, tz: ZoneInfo) -> int:
    """The instant a `filters[created_after|created_before|updated_after|updated_before]` value
    stands for: midnight, in the account's zone, of the DATE it names.

    The API types these four parameters as `format: date` ("contacts created after this date"),
    so a client cannot count on a time of day being honoured. The sandbox therefore reads a
    date-time value by its calendar date in the account's zone and drops the time: a client that
    sends `...T10:11:12` and trusts it gets the whole day back and must cut exactly itself, as it
    must against the real API. Bare dates are read in the account's zone, as ActiveCampaign
    reads them.
    """
    instant = timefmt.parse_instant(text, tz)
    day = datetime.fromtimestamp(instant, tz).date()
    return int(datetime.combine(day, time(0), tz).timestamp())


class QueryError(ValueError):
    """A filter value the sandbox cannot read; answered with 400 and this message."""


def _int_param(params: Mapping[str, str], name: str) -> int | None:
    text = params.get(name)
    if text is None or text == "":
        return None
    try:
        return int(text)
    except ValueError:
        raise QueryError(f"Invalid value for {name}: expected an integer, got {text!r}") from None


@dataclass(frozen=True)
class ContactQuery:
    ids: frozenset[int] | None = None
    email: str | None = None
    email_like: str | None = None
    search: str | None = None
    listid: int | None = None
    tagid: int | None = None
    status: int = -1
    created_after: int | None = None
    created_before: int | None = None
    updated_after: int | None = None
    updated_before: int | None = None
    exclude: int | None = None
    id_greater: int | None = None
    id_less: int | None = None
    descending: bool = False

    @classmethod
    def from_params(
        cls, params: Mapping[str, str], id_list: list[str], tz: ZoneInfo
    ) -> ContactQuery:
        """Read the query string; `id_list` holds every `ids[]`/`ids` value (comma lists too).

        Date filters are *dates* (see `filter_day_start`): `created_after=D` / `updated_after=D`
        keep records from midnight of D in the account's zone on (D included); `created_before=D`
        / `updated_before=D` keep records before that midnight.
        """
        unsupported = [name for name in UNSUPPORTED if params.get(name)]
        if unsupported:
            raise QueryError(
                f"The sandbox does not implement {', '.join(unsupported)} on GET /contacts "
                "(the real API does); filter with listid, tagid, status, email, ids, dates or "
                "id_greater/id_less instead."
            )
        ids: frozenset[int] | None = None
        if id_list:
            try:
                ids = frozenset(int(p) for v in id_list for p in v.split(",") if p.strip())
            except ValueError:
                raise QueryError(
                    f"Invalid value for ids: expected integers, got {id_list}"
                ) from None
        dates: dict[str, int | None] = {}
        for name in _DATE_FILTERS:
            text = params.get(f"filters[{name}]")
            try:
                dates[name] = filter_day_start(text, tz) if text else None
            except ValueError as exc:
                raise QueryError(f"Invalid value for filters[{name}]: {exc}") from None
        order = (params.get("orders[id]") or "ASC").upper()
        if order not in ("ASC", "DESC"):
            raise QueryError(f"Invalid value for orders[id]: expected ASC or DESC, got {order!r}")
        status = _int_param(params, "status")
        listid = _int_param(params, "listid")
        tagid = _int_param(params, "tagid")
        return cls(
            ids=ids,
            email=(params.get("email") or None),
            email_like=(params.get("email_like") or "").casefold() or None,
            search=(params.get("search") or "").casefold() or None,
            listid=listid or None,  # listid=0 is ActiveCampaign's "no list filter"
            tagid=tagid or None,
            status=-1 if status is None else status,
            exclude=_int_param(params, "exclude"),
            id_greater=_int_param(params, "id_greater"),
            id_less=_int_param(params, "id_less"),
            descending=order == "DESC",
            **dates,
        )

    def _static_key(self) -> tuple[object, ...]:
        return (
            "contacts",
            self.ids,
            self.email,
            self.email_like,
            self.search,
            self.listid,
            self.tagid,
            self.status,
            self.created_after,
            self.created_before,
            self.updated_after,
            self.updated_before,
            self.exclude,
        )

    def _matches(self, account: SandboxAccount, c: Contact) -> bool:
        if self.exclude is not None and c.id == self.exclude:
            return False
        if self.email_like is not None and self.email_like not in c.email.casefold():
            return False
        if self.search is not None and not any(
            self.search in text.casefold() for text in (c.email, c.first_name, c.last_name)
        ):
            return False
        if self.listid is not None:
            membership = account.membership(c.id, self.listid)
            if membership is None or (self.status != -1 and membership.status != self.status):
                return False
        elif self.status != -1 and not any(
            m.status == self.status for m in account.memberships_of(c.id)
        ):
            return False
        if self.tagid is not None and not any(t.tag == self.tagid for t in account.tags_of(c.id)):
            return False
        return not (
            (self.created_after is not None and c.cdate < self.created_after)
            or (self.created_before is not None and c.cdate >= self.created_before)
            or (self.updated_after is not None and c.udate < self.updated_after)
            or (self.updated_before is not None and c.udate >= self.updated_before)
        )

    def _matching_ids(self, account: SandboxAccount) -> list[int]:
        if self.email is not None:
            candidates = [c.id for c in account.find_by_email(self.email)]
            if self.ids is not None:  # filters combine: email and ids[] both have to match
                candidates = [i for i in candidates if i in self.ids]
        elif self.ids is not None:
            candidates = sorted(i for i in self.ids if i in account.contacts)
        else:
            candidates = account.sorted_contact_ids
        contacts = account.contacts
        return [i for i in candidates if self._matches(account, contacts[i])]

    def run(self, account: SandboxAccount, offset: int, limit: int) -> tuple[int, list[Contact]]:
        """(total matching, the page of contacts)."""
        with account.lock:
            ids = account.cached(self._static_key(), lambda: self._matching_ids(account))
            low = 0 if self.id_greater is None else bisect.bisect_right(ids, self.id_greater)
            high = len(ids) if self.id_less is None else bisect.bisect_left(ids, self.id_less)
            high = max(low, high)
            total = high - low
            if self.descending:
                start, stop = max(low, high - offset - limit), max(low, high - offset)
                chosen = ids[start:stop][::-1]
            else:
                chosen = ids[low + offset : min(high, low + offset + limit)]
            return total, [account.contacts[i] for i in chosen]

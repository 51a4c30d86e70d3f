"""`SandboxAccount`: the in-memory state of one ActiveCampaign account.

It holds what the API exposes (lists, tags, custom fields, contacts with their list memberships,
tags and field values, the key owner) with the invariants the real service keeps, so that the API
layer above it only translates HTTP:

- ids are never reused: a deleted contact leaves a gap, as ActiveCampaign's auto-increment does;
- an email is refused when it exactly duplicates a stored one, but case variants can coexist
  (ActiveCampaign's own uniqueness check is exact; legacy imports left such pairs behind), and
  lookups by email are case-insensitive, as ActiveCampaign's search is;
- every write bumps `version`, which keys the query caches, so that paging a 100,000-contact
  account costs one scan per filter rather than one per page;
- any write to a contact's memberships, tags or field values also moves its `udate`, so that
  `filters[updated_after]` finds it, as incremental syncs expect.

Thread safety: the API server and a test thread may share an account (`serve_in_thread`); every
method takes `lock`, and a caller that reads several things consistently holds it too.
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Callable, Hashable, Iterable
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from ac_hygiene.sandbox.activecampaign import timefmt
from ac_hygiene.sandbox.activecampaign.records import (
    MEMBERSHIP_STATUSES,
    AccountSettings,
    Contact,
    ContactList,
    ContactTag,
    Field,
    FieldValue,
    MailingList,
    Tag,
    User,
)

T = TypeVar("T")
_ID_KINDS = ("list", "tag", "field", "contact", "contactList", "contactTag", "fieldValue")
_CACHE_ENTRIES = 64


class SandboxAccount:
    """One account's state. Build it empty and add rows, load a fixture, or generate one."""

    def __init__(
        self,
        *,
        name: str = "sandbox",
        timezone: str = "America/Chicago",
        user: User | None = None,
        active: bool = True,
        exclusions: Iterable[str] = (),
    ) -> None:
        self.settings = AccountSettings(
            name=name,
            timezone=timezone,
            active=active,
            exclusions={email.casefold() for email in exclusions},
        )
        self.tz: ZoneInfo = timefmt.zone(timezone)
        self.user = user or User()
        self.lists: dict[int, MailingList] = {}
        self.tags: dict[int, Tag] = {}
        self.fields: dict[int, Field] = {}
        self.contacts: dict[int, Contact] = {}
        self.contact_lists: dict[int, ContactList] = {}
        self.contact_tags: dict[int, ContactTag] = {}
        self.field_values: dict[int, FieldValue] = {}
        self.lock = threading.RLock()
        self.version = 0
        self._contact_ids: list[int] = []  # sorted: keyset paging bisects it
        self._lists_of: dict[int, list[ContactList]] = {}
        self._tags_of: dict[int, list[ContactTag]] = {}
        self._values_of: dict[int, list[FieldValue]] = {}
        self._by_email: dict[str, int | list[int]] = {}
        self._next_id = dict.fromkeys(_ID_KINDS, 1)
        self._cache: dict[Hashable, tuple[int, Any]] = {}

    def __repr__(self) -> str:
        return (
            f"SandboxAccount(name={self.settings.name!r}, contacts={len(self.contacts)}, "
            f"lists={len(self.lists)}, tags={len(self.tags)}, fields={len(self.fields)})"
        )

    # ----------------------------------------------------------------- account-wide settings
    @property
    def active(self) -> bool:
        """False makes every API call answer 402, as an account whose plan lapsed does."""
        return self.settings.active

    @active.setter
    def active(self, value: bool) -> None:
        self.settings.active = bool(value)

    @property
    def exclusions(self) -> set[str]:
        """Casefolded emails that bulk import skips silently (ActiveCampaign's exclusion list)."""
        return self.settings.exclusions

    def exclude(self, email: str) -> None:
        """Put an address on the exclusion list (bulk import then skips it silently)."""
        self.settings.exclusions.add(email.casefold())

    def is_excluded(self, email: str) -> bool:
        return email.casefold() in self.settings.exclusions

    @property
    def next_ids(self) -> dict[str, int]:
        """The next id per kind; kept in fixtures so that ids of deleted rows stay unused."""
        return dict(self._next_id)

    def reserve_ids(self, kind: str, next_id: int) -> None:
        """Never hand out ids below `next_id` for `kind` (restores gaps left by deletions)."""
        if kind not in self._next_id:
            raise ValueError(f"unknown id kind {kind!r}; expected one of {', '.join(_ID_KINDS)}")
        self._next_id[kind] = max(self._next_id[kind], int(next_id))

    def _allocate(self, kind: str, explicit: int | None, taken: dict[int, Any]) -> int:
        if explicit is None:
            new_id = self._next_id[kind]
        else:
            new_id = int(explicit)
            if new_id < 1:
                raise ValueError(f"{kind} id must be a positive integer, got {explicit!r}")
            if new_id in taken:
                raise ValueError(f"{kind} id {new_id} is already taken")
        self._next_id[kind] = max(self._next_id[kind], new_id + 1)
        return new_id

    def _changed(self) -> None:
        self.version += 1

    def cached(self, key: Hashable, compute: Callable[[], T]) -> T:
        """`compute()` once per account version: reads between writes share one result."""
        with self.lock:
            hit = self._cache.get(key)
            if hit is not None and hit[0] == self.version:
                return hit[1]
            value = compute()
            if len(self._cache) >= _CACHE_ENTRIES:
                self._cache.clear()
            self._cache[key] = (self.version, value)
            return value

    # ----------------------------------------------------------------- lists, tags, fields
    def add_list(
        self,
        name: str,
        *,
        list_id: int | None = None,
        stringid: str | None = None,
        cdate: int = 0,
    ) -> MailingList:
        with self.lock:
            new_id = self._allocate("list", list_id, self.lists)
            slug = stringid or "-".join(name.lower().split()) or f"list-{new_id}"
            row = MailingList(id=new_id, name=name, stringid=slug, cdate=cdate)
            self.lists[new_id] = row
            self._changed()
            return row

    def add_tag(
        self, tag: str, *, tag_id: int | None = None, cdate: int = 0, description: str = ""
    ) -> Tag:
        with self.lock:
            new_id = self._allocate("tag", tag_id, self.tags)
            row = Tag(id=new_id, tag=tag, cdate=cdate, description=description)
            self.tags[new_id] = row
            self._changed()
            return row

    def find_tag(self, name: str) -> Tag | None:
        """Tags are matched by name case-insensitively, as bulk import does."""
        wanted = name.strip().casefold()
        with self.lock:
            return next((t for t in self.tags.values() if t.tag.casefold() == wanted), None)

    def add_field(
        self,
        title: str,
        type: str = "text",
        *,
        field_id: int | None = None,
        perstag: str | None = None,
        cdate: int = 0,
    ) -> Field:
        with self.lock:
            new_id = self._allocate("field", field_id, self.fields)
            tag = perstag or "_".join(title.upper().split())
            row = Field(id=new_id, title=title, type=type, perstag=tag, cdate=cdate)
            self.fields[new_id] = row
            self._changed()
            return row

    # ----------------------------------------------------------------- contacts
    @property
    def sorted_contact_ids(self) -> list[int]:
        """Contact ids in ascending order. Read-only: the account maintains it."""
        return self._contact_ids

    def add_contact(
        self,
        email: str,
        first_name: str = "",
        last_name: str = "",
        *,
        cdate: int,
        udate: int | None = None,
        phone: str = "",
        bounced_hard: bool = False,
        contact_id: int | None = None,
    ) -> Contact:
        """Create a contact; refuses an exact duplicate email, as ActiveCampaign does."""
        with self.lock:
            if any(self.contacts[i].email == email for i in self._ids_by_email(email)):
                raise ValueError(f"a contact with email {email!r} already exists")
            new_id = self._allocate("contact", contact_id, self.contacts)
            row = Contact(
                id=new_id,
                email=email,
                first_name=first_name,
                last_name=last_name,
                phone=phone,
                cdate=cdate,
                udate=cdate if udate is None else udate,
                bounced_hard=bounced_hard,
            )
            self.contacts[new_id] = row
            if not self._contact_ids or new_id > self._contact_ids[-1]:
                self._contact_ids.append(new_id)
            else:
                bisect.insort(self._contact_ids, new_id)
            self._index_email(email, new_id)
            self._changed()
            return row

    def update_contact(
        self,
        contact_id: int,
        *,
        now: int,
        first_name: str | None = None,
        last_name: str | None = None,
        phone: str | None = None,
        email: str | None = None,
    ) -> Contact:
        """Change a contact's fields (an email too, as the contact form or `PUT` can); moves
        `udate`. A new email that exactly duplicates another contact's is refused."""
        with self.lock:
            row = self.contacts[contact_id]
            if email is not None and email != row.email:
                if any(
                    self.contacts[i].email == email and i != contact_id
                    for i in self._ids_by_email(email)
                ):
                    raise ValueError(f"a contact with email {email!r} already exists")
                self._unindex_email(row.email, contact_id)
                row.email = email
                self._index_email(email, contact_id)
            if first_name is not None:
                row.first_name = first_name
            if last_name is not None:
                row.last_name = last_name
            if phone is not None:
                row.phone = phone
            row.udate = max(row.udate, now)
            self._changed()
            return row

    def delete_contact(self, contact_id: int) -> bool:
        """Remove the contact and everything hanging off it; False if there was none."""
        with self.lock:
            row = self.contacts.pop(contact_id, None)
            if row is None:
                return False
            index = bisect.bisect_left(self._contact_ids, contact_id)
            del self._contact_ids[index]
            self._unindex_email(row.email, contact_id)
            for membership in self._lists_of.pop(contact_id, ()):
                del self.contact_lists[membership.id]
            for contact_tag in self._tags_of.pop(contact_id, ()):
                del self.contact_tags[contact_tag.id]
            for value in self._values_of.pop(contact_id, ()):
                del self.field_values[value.id]
            self._changed()
            return True

    def find_by_email(self, email: str) -> list[Contact]:
        """Every contact whose email equals `email` ignoring case, lowest id first."""
        with self.lock:
            return [self.contacts[i] for i in sorted(self._ids_by_email(email))]

    # The email index maps casefolded email -> id, or -> [ids] for the rare case-variant pairs:
    # one int per contact instead of one list keeps a 100,000-contact account small.
    def _ids_by_email(self, email: str) -> tuple[int, ...] | list[int]:
        found = self._by_email.get(email.casefold())
        if found is None:
            return ()
        return (found,) if isinstance(found, int) else found

    def _index_email(self, email: str, contact_id: int) -> None:
        key = email.casefold()
        if key == email:
            key = email  # share the stored string rather than keep an equal copy
        found = self._by_email.get(key)
        if found is None:
            self._by_email[key] = contact_id
        elif isinstance(found, int):
            self._by_email[key] = [found, contact_id]
        else:
            found.append(contact_id)

    def _unindex_email(self, email: str, contact_id: int) -> None:
        key = email.casefold()
        found = self._by_email[key]
        if isinstance(found, int):
            del self._by_email[key]
            return
        found.remove(contact_id)
        if len(found) == 1:
            self._by_email[key] = found[0]

    def _touch(self, contact_id: int, now: int) -> None:
        contact = self.contacts[contact_id]
        contact.udate = max(contact.udate, now)

    # ----------------------------------------------------------------- list memberships
    def memberships_of(self, contact_id: int) -> list[ContactList]:
        return self._lists_of.get(contact_id, [])

    def membership(self, contact_id: int, list_id: int) -> ContactList | None:
        return next((m for m in self.memberships_of(contact_id) if m.list == list_id), None)

    def set_membership(
        self,
        contact_id: int,
        list_id: int,
        status: int,
        *,
        now: int,
        membership_id: int | None = None,
        touch: bool = True,
    ) -> ContactList:
        """Create or update the (contact, list) row; unsubscribing a non-member creates the row."""
        if status not in MEMBERSHIP_STATUSES:
            raise ValueError(
                f"membership status must be one of {MEMBERSHIP_STATUSES}, not {status}"
            )
        with self.lock:
            if contact_id not in self.contacts:
                raise KeyError(f"no contact {contact_id}")
            if list_id not in self.lists:
                raise KeyError(f"no list {list_id}")
            row = self.membership(contact_id, list_id)
            if row is None:
                new_id = self._allocate("contactList", membership_id, self.contact_lists)
                row = ContactList(
                    id=new_id, contact=contact_id, list=list_id, status=status, sdate=now, udate=now
                )
                self.contact_lists[new_id] = row
                self._lists_of.setdefault(contact_id, []).append(row)
            elif row.status != status:
                row.status = status
                row.udate = now
            if touch:
                self._touch(contact_id, now)
            self._changed()
            return row

    # ----------------------------------------------------------------- contact tags
    def tags_of(self, contact_id: int) -> list[ContactTag]:
        return self._tags_of.get(contact_id, [])

    def tag_counts(self) -> dict[int, int]:
        """Tag id -> contacts carrying it: a tag's `subscriber_count` (one count per version)."""

        def count() -> dict[int, int]:
            counts: dict[int, int] = {}
            for row in self.contact_tags.values():
                counts[row.tag] = counts.get(row.tag, 0) + 1
            return counts

        return self.cached(("tag_counts",), count)

    def add_contact_tag(
        self,
        contact_id: int,
        tag_id: int,
        *,
        now: int,
        contact_tag_id: int | None = None,
        touch: bool = True,
    ) -> tuple[ContactTag, bool]:
        """Tag a contact; returns (row, created). Tagging twice returns the existing row."""
        with self.lock:
            if contact_id not in self.contacts:
                raise KeyError(f"no contact {contact_id}")
            if tag_id not in self.tags:
                raise KeyError(f"no tag {tag_id}")
            existing = next((t for t in self.tags_of(contact_id) if t.tag == tag_id), None)
            if existing is not None:
                return existing, False
            new_id = self._allocate("contactTag", contact_tag_id, self.contact_tags)
            row = ContactTag(id=new_id, contact=contact_id, tag=tag_id, cdate=now)
            self.contact_tags[new_id] = row
            self._tags_of.setdefault(contact_id, []).append(row)
            if touch:
                self._touch(contact_id, now)
            self._changed()
            return row, True

    def remove_contact_tag(self, contact_tag_id: int, *, now: int) -> bool:
        with self.lock:
            row = self.contact_tags.pop(contact_tag_id, None)
            if row is None:
                return False
            self._tags_of[row.contact].remove(row)
            if not self._tags_of[row.contact]:
                del self._tags_of[row.contact]
            self._touch(row.contact, now)
            self._changed()
            return True

    # ----------------------------------------------------------------- custom field values
    def field_values_of(self, contact_id: int) -> list[FieldValue]:
        return self._values_of.get(contact_id, [])

    def set_field_value(
        self,
        contact_id: int,
        field_id: int,
        value: str,
        *,
        now: int,
        field_value_id: int | None = None,
        touch: bool = True,
    ) -> FieldValue:
        """Create or overwrite the contact's value for the field (one value per pair)."""
        with self.lock:
            if contact_id not in self.contacts:
                raise KeyError(f"no contact {contact_id}")
            if field_id not in self.fields:
                raise KeyError(f"no field {field_id}")
            row = next((v for v in self.field_values_of(contact_id) if v.field == field_id), None)
            if row is None:
                new_id = self._allocate("fieldValue", field_value_id, self.field_values)
                row = FieldValue(
                    id=new_id, contact=contact_id, field=field_id, value=value, cdate=now, udate=now
                )
                self.field_values[new_id] = row
                self._values_of.setdefault(contact_id, []).append(row)
            else:
                row.value = value
                row.udate = now
            if touch:
                self._touch(contact_id, now)
            self._changed()
            return row

    # ----------------------------------------------------------------- fixtures
    def to_fixture(self) -> dict[str, Any]:
        """The account as a JSON-ready fixture dict (see `fixture.py` for the format)."""
        from ac_hygiene.sandbox.activecampaign.fixture import account_to_fixture

        return account_to_fixture(self)

    @classmethod
    def from_fixture(cls, data: dict[str, Any]) -> SandboxAccount:
        """Build an account from a fixture dict; raises FixtureError saying what is wrong where."""
        from ac_hygiene.sandbox.activecampaign.fixture import account_from_fixture

        return account_from_fixture(data)

"""The rows of a sandbox ActiveCampaign account, as compact slotted records.

Times are whole POSIX seconds (UTC) and ids are ints: a generated account of 100,000 contacts holds
about half a million of these rows, so they stay small, and every ActiveCampaign-looking string
(`"id":"68"`, `"2026-01-05T10:11:12-06:00"`) is produced only when a response is rendered.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# List membership statuses, as ActiveCampaign numbers them.
UNCONFIRMED = 0
ACTIVE = 1
UNSUBSCRIBED = 2
BOUNCED = 3
MEMBERSHIP_STATUSES = (UNCONFIRMED, ACTIVE, UNSUBSCRIBED, BOUNCED)


@dataclass(slots=True)
class User:
    """The owner of the API key, as `GET /users/me` shows it."""

    id: int = 1
    username: str = "admin"
    first_name: str = "Sandbox"
    last_name: str = "Admin"
    email: str = "admin@sandbox.example"
    phone: str = ""


@dataclass(slots=True)
class MailingList:
    id: int
    name: str
    stringid: str
    cdate: int


@dataclass(slots=True)
class Tag:
    id: int
    tag: str
    cdate: int
    description: str = ""
    tag_type: str = "contact"


@dataclass(slots=True)
class Field:
    id: int
    title: str
    type: str
    perstag: str
    cdate: int


@dataclass(slots=True)
class Contact:
    id: int
    email: str
    first_name: str
    last_name: str
    phone: str
    cdate: int
    udate: int
    bounced_hard: bool = False


@dataclass(slots=True)
class ContactList:
    """One (contact, list) membership; ActiveCampaign keeps unsubscribed ones as rows too."""

    id: int
    contact: int
    list: int
    status: int
    sdate: int
    udate: int


@dataclass(slots=True)
class ContactTag:
    id: int
    contact: int
    tag: int
    cdate: int


@dataclass(slots=True)
class FieldValue:
    id: int
    contact: int
    field: int
    value: str
    cdate: int
    udate: int


@dataclass(slots=True)
class AccountSettings:
    """Account-wide facts that are not rows: its name (the host label), clock zone and plan."""

    name: str = "sandbox"
    timezone: str = "America/Chicago"
    active: bool = True
    exclusions: set[str] = field(default_factory=set)

"""Account fixtures: a sandbox account as one JSON file, readable and writable by hand.

Format (`"format": "ac_hygiene.sandbox.activecampaign/1"`; every time is ISO 8601, stored as UTC
`...Z`; hand-written files may use any offset or a bare date; keys marked ? may be left out)::

    {
      "format": "ac_hygiene.sandbox.activecampaign/1",
      "account": {"name": "sandbox", "timezone": "America/Chicago", "active": true,
                  "exclusions": ["blocked-import@example.com"]},                      # all ?
      "user": {"id": 1, "username": "admin", "firstName": "Sandbox", "lastName": "Admin",
               "email": "admin@sandbox.example", "phone": ""},                       # ?
      "lists":  [{"id": 1, "name": "Newsletter", "stringid"?: "newsletter", "cdate"?: "..."}],
      "tags":   [{"id": 1, "tag": "customer", "description"?: "", "cdate"?: "..."}],
      "fields": [{"id": 1, "title": "Company", "type"?: "text", "perstag"?: "COMPANY",
                  "cdate"?: "..."}],
      "contacts": [{"id": 1, "email": "alice.smith@gmail.com", "firstName"?: "",
                    "lastName"?: "", "phone"?: "", "cdate": "...", "udate"?: "...",
                    "bounced_hard"?: false,
                    "lists"?: [{"id"?: 1, "list": 1, "status"?: 1, "sdate"?: "...",
                                "udate"?: "..."}],
                    "tags"?: [{"id"?: 1, "tag": 1, "cdate"?: "..."}],
                    "fieldValues"?: [{"id"?: 1, "field": 1, "value": "Acme", "cdate"?: "...",
                                      "udate"?: "..."}]}],
      "next_ids"?: {"contact": 12, "contactList": 30, ...}
    }

Ids are plain JSON integers (the API renders them as strings; a fixture is not an API response).
`next_ids` keeps the gaps that deleted rows leave, so a reloaded account never reuses an id.
Unknown keys are refused, so that a typo in a hand-written fixture is reported, not ignored.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ac_hygiene.sandbox.activecampaign import timefmt
from ac_hygiene.sandbox.activecampaign.account import SandboxAccount
from ac_hygiene.sandbox.activecampaign.records import MEMBERSHIP_STATUSES, User

FORMAT = "ac_hygiene.sandbox.activecampaign/1"


class FixtureError(ValueError):
    """A fixture that cannot be loaded; the message names the offending place."""


def load_account(path: str | Path) -> SandboxAccount:
    """Read a fixture file into an account."""
    file = Path(path)
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FixtureError(f"account fixture not found: {file}") from None
    except json.JSONDecodeError as exc:
        raise FixtureError(f"{file}: not valid JSON ({exc})") from None
    try:
        return account_from_fixture(data)
    except FixtureError as exc:
        raise FixtureError(f"{file}: {exc}") from None


def save_account(account: SandboxAccount, path: str | Path) -> None:
    """Write the account as an indented UTF-8 fixture file (unicode addresses kept readable)."""
    text = json.dumps(account_to_fixture(account), ensure_ascii=False, indent=1)
    Path(path).write_text(text + "\n", encoding="utf-8")


def account_to_fixture(account: SandboxAccount) -> dict[str, Any]:
    ts = timefmt.format_fixture
    with account.lock:
        user = account.user
        return {
            "format": FORMAT,
            "account": {
                "name": account.settings.name,
                "timezone": account.settings.timezone,
                "active": account.settings.active,
                "exclusions": sorted(account.settings.exclusions),
            },
            "user": {
                "id": user.id,
                "username": user.username,
                "firstName": user.first_name,
                "lastName": user.last_name,
                "email": user.email,
                "phone": user.phone,
            },
            "lists": [
                {"id": r.id, "name": r.name, "stringid": r.stringid, "cdate": ts(r.cdate)}
                for r in account.lists.values()
            ],
            "tags": [
                {"id": r.id, "tag": r.tag, "description": r.description, "cdate": ts(r.cdate)}
                for r in account.tags.values()
            ],
            "fields": [
                {
                    "id": r.id,
                    "title": r.title,
                    "type": r.type,
                    "perstag": r.perstag,
                    "cdate": ts(r.cdate),
                }
                for r in account.fields.values()
            ],
            "contacts": [_contact_to_fixture(account, cid) for cid in account.sorted_contact_ids],
            "next_ids": account.next_ids,
        }


def _contact_to_fixture(account: SandboxAccount, contact_id: int) -> dict[str, Any]:
    ts = timefmt.format_fixture
    c = account.contacts[contact_id]
    return {
        "id": c.id,
        "email": c.email,
        "firstName": c.first_name,
        "lastName": c.last_name,
        "phone": c.phone,
        "cdate": ts(c.cdate),
        "udate": ts(c.udate),
        "bounced_hard": c.bounced_hard,
        "lists": [
            {
                "id": m.id,
                "list": m.list,
                "status": m.status,
                "sdate": ts(m.sdate),
                "udate": ts(m.udate),
            }
            for m in account.memberships_of(contact_id)
        ],
        "tags": [
            {"id": t.id, "tag": t.tag, "cdate": ts(t.cdate)} for t in account.tags_of(contact_id)
        ],
        "fieldValues": [
            {
                "id": v.id,
                "field": v.field,
                "value": v.value,
                "cdate": ts(v.cdate),
                "udate": ts(v.udate),
            }
            for v in account.field_values_of(contact_id)
        ],
    }


class _Reader:
    """Typed access to one JSON object, with errors that say where in the file they are."""

    def __init__(self, data: Any, where: str, allowed: set[str]) -> None:
        if not isinstance(data, dict):
            raise FixtureError(f"{where}: expected an object, got {type(data).__name__}")
        unknown = sorted(set(data) - allowed)
        if unknown:
            raise FixtureError(
                f"{where}: unknown key(s) {', '.join(unknown)}; "
                f"allowed: {', '.join(sorted(allowed))}"
            )
        self.data = data
        self.where = where

    def _get(self, key: str, kind: type | tuple[type, ...], default: Any, required: bool) -> Any:
        if key not in self.data:
            if required:
                raise FixtureError(f"{self.where}: missing required key {key!r}")
            return default
        value = self.data[key]
        if (isinstance(value, bool) and kind is int) or not isinstance(value, kind):
            name = kind.__name__ if isinstance(kind, type) else "/".join(k.__name__ for k in kind)
            raise FixtureError(f"{self.where}.{key}: expected {name}, got {value!r}")
        return value

    def int(self, key: str, default: int | None = None, *, required: bool = False) -> Any:
        return self._get(key, int, default, required)

    def str(self, key: str, default: str | None = None, *, required: bool = False) -> Any:
        return self._get(key, str, default, required)

    def bool(self, key: str, default: bool, *, required: bool = False) -> bool:
        return self._get(key, bool, default, required)

    def list(self, key: str) -> list[Any]:
        return self._get(key, list, [], False)

    def time(self, key: str, account: SandboxAccount, default: int | None = None) -> int:
        text = self.str(key, required=default is None)
        if text is None:
            return default  # type: ignore[return-value]
        try:
            return timefmt.parse_instant(text, account.tz)
        except ValueError as exc:
            raise FixtureError(f"{self.where}.{key}: {exc}") from None


def _guard(where: str, action: Callable[[], Any]) -> Any:
    try:
        return action()
    except (KeyError, ValueError) as exc:
        message = exc.args[0] if exc.args else str(exc)
        raise FixtureError(f"{where}: {message}") from None


def account_from_fixture(data: Any) -> SandboxAccount:
    top = _Reader(
        data,
        "fixture",
        {"format", "account", "user", "lists", "tags", "fields", "contacts", "next_ids"},
    )
    fmt = top.str("format", FORMAT)
    if fmt != FORMAT:
        raise FixtureError(f"fixture.format: unsupported {fmt!r}; this version reads {FORMAT!r}")
    settings = _Reader(
        top.data.get("account", {}), "account", {"name", "timezone", "active", "exclusions"}
    )
    exclusions = settings.list("exclusions")
    if not all(isinstance(e, str) for e in exclusions):
        raise FixtureError("account.exclusions: expected a list of email strings")
    user_in = _Reader(
        top.data.get("user", {}),
        "user",
        {"id", "username", "firstName", "lastName", "email", "phone"},
    )
    default_user = User()
    timezone = settings.str("timezone", "America/Chicago")
    try:
        account = SandboxAccount(
            name=settings.str("name", "sandbox"),
            timezone=timezone,
            active=settings.bool("active", True),
            exclusions=exclusions,
            user=User(
                id=user_in.int("id", default_user.id),
                username=user_in.str("username", default_user.username),
                first_name=user_in.str("firstName", default_user.first_name),
                last_name=user_in.str("lastName", default_user.last_name),
                email=user_in.str("email", default_user.email),
                phone=user_in.str("phone", default_user.phone),
            ),
        )
    except (KeyError, ValueError):
        raise FixtureError(f"account.timezone: unknown time zone {timezone!r}") from None
    _load_catalog(top, account)
    for i, item in enumerate(top.list("contacts")):
        _load_contact(_Reader(item, f"contacts[{i}]", _CONTACT_KEYS), account)
    next_ids = top.data.get("next_ids", {})
    if not isinstance(next_ids, dict):
        raise FixtureError("next_ids: expected an object of kind -> next id")
    for kind, value in next_ids.items():
        if not isinstance(value, int) or isinstance(value, bool):
            raise FixtureError(f"next_ids.{kind}: expected an integer, got {value!r}")
        _guard(f"next_ids.{kind}", lambda kind=kind, value=value: account.reserve_ids(kind, value))
    return account


_CONTACT_KEYS = {
    "id",
    "email",
    "firstName",
    "lastName",
    "phone",
    "cdate",
    "udate",
    "bounced_hard",
    "lists",
    "tags",
    "fieldValues",
}


def _load_catalog(top: _Reader, account: SandboxAccount) -> None:
    for i, item in enumerate(top.list("lists")):
        r = _Reader(item, f"lists[{i}]", {"id", "name", "stringid", "cdate"})
        _guard(
            r.where,
            lambda r=r: account.add_list(
                r.str("name", required=True),
                list_id=r.int("id", required=True),
                stringid=r.str("stringid"),
                cdate=r.time("cdate", account, 0),
            ),
        )
    for i, item in enumerate(top.list("tags")):
        r = _Reader(item, f"tags[{i}]", {"id", "tag", "description", "cdate"})
        _guard(
            r.where,
            lambda r=r: account.add_tag(
                r.str("tag", required=True),
                tag_id=r.int("id", required=True),
                description=r.str("description", ""),
                cdate=r.time("cdate", account, 0),
            ),
        )
    for i, item in enumerate(top.list("fields")):
        r = _Reader(item, f"fields[{i}]", {"id", "title", "type", "perstag", "cdate"})
        _guard(
            r.where,
            lambda r=r: account.add_field(
                r.str("title", required=True),
                r.str("type", "text"),
                field_id=r.int("id", required=True),
                perstag=r.str("perstag"),
                cdate=r.time("cdate", account, 0),
            ),
        )


def _load_contact(r: _Reader, account: SandboxAccount) -> None:
    cdate = r.time("cdate", account)
    contact = _guard(
        r.where,
        lambda: account.add_contact(
            r.str("email", required=True),
            r.str("firstName", ""),
            r.str("lastName", ""),
            phone=r.str("phone", ""),
            cdate=cdate,
            udate=r.time("udate", account, cdate),
            bounced_hard=r.bool("bounced_hard", False),
            contact_id=r.int("id", required=True),
        ),
    )
    for j, item in enumerate(r.list("lists")):
        m = _Reader(item, f"{r.where}.lists[{j}]", {"id", "list", "status", "sdate", "udate"})
        status = m.int("status", 1)
        if status not in MEMBERSHIP_STATUSES:
            raise FixtureError(f"{m.where}.status: must be one of {MEMBERSHIP_STATUSES}")
        sdate = m.time("sdate", account, cdate)
        row = _guard(
            m.where,
            lambda m=m, sdate=sdate, status=status: account.set_membership(
                contact.id,
                m.int("list", required=True),
                status,
                now=sdate,
                membership_id=m.int("id"),
                touch=False,
            ),
        )
        row.udate = m.time("udate", account, sdate)
    for j, item in enumerate(r.list("tags")):
        t = _Reader(item, f"{r.where}.tags[{j}]", {"id", "tag", "cdate"})
        _guard(
            t.where,
            lambda t=t: account.add_contact_tag(
                contact.id,
                t.int("tag", required=True),
                now=t.time("cdate", account, cdate),
                contact_tag_id=t.int("id"),
                touch=False,
            ),
        )
    for j, item in enumerate(r.list("fieldValues")):
        v = _Reader(item, f"{r.where}.fieldValues[{j}]", {"id", "field", "value", "cdate", "udate"})
        created = v.time("cdate", account, cdate)
        row = _guard(
            v.where,
            lambda v=v, created=created: account.set_field_value(
                contact.id,
                v.int("field", required=True),
                v.str("value", required=True),
                now=created,
                field_value_id=v.int("id"),
                touch=False,
            ),
        )
        row.udate = v.time("udate", account, created)

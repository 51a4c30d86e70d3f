"""Records rendered exactly as ActiveCampaign's v3 API writes them.

Every id and number is a string (`"id":"68"`, `"bounced_hard":"0"`), dates carry the account's
offset, unused columns are present with the values the real API gives them (`"orgid":"0"`,
`"adate":null`), and `links` point at the sub-resources. The key sets follow the examples in
`activecampaign-v3-openapi.json` plus the fields the live API returns beyond those (years-old)
examples: `created_timestamp`/`updated_timestamp`/`created_by`/`updated_by` on lists, tags,
contact tags and contacts, a tag's `subscriber_count`, a contact's `email_empty`, ... (SHAPES.md
beside this file says where each comes from; the conformance tests hold the sandbox to both).
A client written against the sandbox, for instance one that pages on `updated_timestamp`, then
meets no surprise on a real account.
"""

from __future__ import annotations

import hashlib
from typing import Any

from ac_hygiene.sandbox.activecampaign import timefmt
from ac_hygiene.sandbox.activecampaign.account import SandboxAccount
from ac_hygiene.sandbox.activecampaign.records import (
    Contact,
    ContactList,
    ContactTag,
    Field,
    FieldValue,
    MailingList,
    Tag,
    User,
)

_CONTACT_LINKS = (
    "bounceLogs",
    "contactAutomations",
    "contactData",
    "contactGoals",
    "contactLists",
    "contactLogs",
    "contactTags",
    "contactDeals",
    "deals",
    "fieldValues",
    "geoIps",
    "notes",
    "organization",
    "plusAppend",
    "trackingLogs",
    "scoreValues",
    "accountContacts",
    "automationEntryCounts",
)
_MEMBERSHIP_LINKS = (
    "automation",
    "list",
    "contact",
    "form",
    "autosyncLog",
    "campaign",
    "unsubscribeAutomation",
    "message",
)
# The columns of a list ActiveCampaign returns that the sandbox has no use for, with its defaults.
_LIST_DEFAULTS: dict[str, Any] = {
    "p_use_tracking": "1",
    "p_use_analytics_read": "0",
    "p_use_analytics_link": "0",
    "p_use_twitter": "0",
    "p_use_facebook": "0",
    "p_embed_image": "1",
    "p_use_captcha": "1",
    "send_last_broadcast": "0",
    "private": "0",
    "analytics_domains": None,
    "analytics_source": "",
    "analytics_ua": "",
    "twitter_token": "",
    "twitter_token_secret": "",
    "facebook_session": None,
    "carboncopy": None,
    "subscription_notify": None,
    "unsubscription_notify": None,
    "require_name": "0",
    "get_unsubscribe_reason": "0",
    "to_name": "Subscriber",
    "optinoptout": "1",
    "sender_name": "",
    "sender_addr1": "",
    "sender_addr2": "",
    "sender_city": "",
    "sender_state": "",
    "sender_zip": "",
    "sender_country": "",
    "sender_phone": "",
    "sender_url": "",
    "sender_reminder": "You signed up for this mailing list.",
    "fulladdress": "",
    "optinmessageid": "0",
    "optoutconf": "0",
    "deletestamp": None,
}


class Shapes:
    """Renders records for one request: links use the host the client called."""

    def __init__(self, account: SandboxAccount, base_url: str) -> None:
        self.account = account
        self.tz = account.tz
        self.api = base_url.rstrip("/") + "/api/3"

    def date(self, ts: int) -> str:
        return timefmt.format_ac(ts, self.tz)

    def stamp(self, ts: int) -> str:
        """`created_timestamp`-style: the account's wall-clock time without offset."""
        return timefmt.format_local_naive(ts, self.tz)

    def user(self, user: User) -> dict[str, Any]:
        base = f"{self.api}/users/{user.id}"
        return {
            "username": user.username,
            "firstName": user.first_name,
            "lastName": user.last_name,
            "email": user.email,
            "phone": user.phone,
            "signature": None,
            "links": {
                name: f"{base}/{name}"
                for name in ("lists", "userGroup", "dealGroupTotals", "dealGroupUsers", "configs")
            },
            "id": str(user.id),
        }

    def contact(self, c: Contact) -> dict[str, Any]:
        base = f"{self.api}/contacts/{c.id}"
        return {
            "cdate": self.date(c.cdate),
            "email": c.email,
            "phone": c.phone,
            "firstName": c.first_name,
            "lastName": c.last_name,
            "orgid": "0",
            "segmentio_id": "",
            "bounced_hard": "1" if c.bounced_hard else "0",
            "bounced_soft": "0",
            "bounced_date": self.date(c.udate)[:10] if c.bounced_hard else None,
            "ip": "0",
            "ua": None,
            "orgname": "",
            "hash": hashlib.md5(f"{c.id}:{c.email}".encode(), usedforsecurity=False).hexdigest(),
            "socialdata_lastcheck": None,
            "email_local": "",
            "email_domain": "",
            "sentcnt": "0",
            "rating_tstamp": None,
            "gravatar": "0",
            "deleted": "0",
            "anonymized": "0",
            "adate": None,
            "udate": self.date(c.udate),
            "edate": None,
            "deleted_at": None,
            "created_utc_timestamp": timefmt.format_utc_naive(c.cdate),
            "updated_utc_timestamp": timefmt.format_utc_naive(c.udate),
            "created_timestamp": self.stamp(c.cdate),
            "updated_timestamp": self.stamp(c.udate),
            "created_by": "0",
            "updated_by": "0",
            "email_empty": not c.email,
            "mpp_tracking": "0",
            "last_click_date": None,
            "last_open_date": None,
            "last_mpp_open_date": None,
            "scoreValues": [],
            "links": {name: f"{base}/{name}" for name in _CONTACT_LINKS},
            "id": str(c.id),
            "organization": None,
        }

    def contact_list(self, m: ContactList) -> dict[str, Any]:
        contact = self.account.contacts.get(m.contact)
        base = f"{self.api}/contactLists/{m.id}"
        return {
            "contact": str(m.contact),
            "list": str(m.list),
            "form": None,
            "seriesid": "0",
            "sdate": self.date(m.sdate),
            "udate": self.date(m.udate),
            "status": str(m.status),
            "responder": "1",
            "sync": "0",
            "unsubreason": None,
            "campaign": None,
            "message": None,
            "first_name": contact.first_name if contact else "",
            "last_name": contact.last_name if contact else "",
            "ip4Sub": "0",
            "sourceid": "0",
            "autosyncLog": None,
            "ip4_last": "0",
            "ip4Unsub": "0",
            "created_timestamp": self.stamp(m.sdate),
            "updated_timestamp": self.stamp(m.udate),
            "created_by": None,
            "updated_by": None,
            "unsubscribeAutomation": None,
            "links": {name: f"{base}/{name}" for name in _MEMBERSHIP_LINKS},
            "id": str(m.id),
            "automation": None,
        }

    def contact_tag(self, t: ContactTag) -> dict[str, Any]:
        base = f"{self.api}/contactTags/{t.id}"
        return {
            "cdate": self.date(t.cdate),
            "contact": str(t.contact),
            "id": str(t.id),
            "links": {"contact": f"{base}/contact", "tag": f"{base}/tag"},
            "tag": str(t.tag),
            "created_timestamp": self.stamp(t.cdate),
            "updated_timestamp": self.stamp(t.cdate),
            "created_by": None,
            "updated_by": None,
        }

    def field_value(self, v: FieldValue) -> dict[str, Any]:
        base = f"{self.api}/fieldValues/{v.id}"
        return {
            "contact": str(v.contact),
            "field": str(v.field),
            "value": v.value,
            "cdate": self.date(v.cdate),
            "udate": self.date(v.udate),
            "created_by": "0",
            "updated_by": "0",
            "links": {"owner": f"{base}/owner", "field": f"{base}/field"},
            "id": str(v.id),
            "owner": str(v.contact),
        }

    def mailing_list(self, row: MailingList) -> dict[str, Any]:
        base = f"{self.api}/lists/{row.id}"
        return {
            "stringid": row.stringid,
            "userid": str(self.account.user.id),
            "name": row.name,
            "cdate": self.date(row.cdate),
            **_LIST_DEFAULTS,
            "udate": None,
            "created_timestamp": self.stamp(row.cdate),
            "updated_timestamp": self.stamp(row.cdate),
            "created_by": None,
            "updated_by": None,
            "links": {
                name: f"{base}/{name}" for name in ("contactGoalLists", "user", "addressLists")
            },
            "id": str(row.id),
            "user": str(self.account.user.id),
        }

    def tag(self, row: Tag) -> dict[str, Any]:
        return {
            "tagType": row.tag_type,
            "tag": row.tag,
            "description": row.description,
            "subscriber_count": str(self.account.tag_counts().get(row.id, 0)),
            "cdate": self.date(row.cdate),
            "created_timestamp": self.stamp(row.cdate),
            "updated_timestamp": self.stamp(row.cdate),
            "created_by": None,
            "updated_by": None,
            "links": {"contactGoalTags": f"{self.api}/tags/{row.id}/contactGoalTags"},
            "id": str(row.id),
        }

    def field(self, row: Field, ordernum: int) -> dict[str, Any]:
        base = f"{self.api}/fields/{row.id}"
        return {
            "title": row.title,
            "descript": None,
            "type": row.type,
            "isrequired": "0",
            "perstag": row.perstag,
            "defval": None,
            "show_in_list": "0",
            "rows": "0",
            "cols": "0",
            "visible": "1",
            "service": "",
            "ordernum": str(ordernum),
            "cdate": self.date(row.cdate),
            "udate": self.date(row.cdate),
            "options": [],
            "relations": [],
            "links": {"options": f"{base}/options", "relations": f"{base}/relations"},
            "id": str(row.id),
        }

"""`generate_account`: a deterministic, realistic ActiveCampaign account of any size.

Addresses are drawn from the mail world (`worlds/default.yaml`) so that the verifier, run against
the sandbox mail servers, meets every outcome it must handle. The mix (`MIX`) mirrors a list that
has been collected for a few years: about 70% deliverable mailboxes, then unknown mailboxes,
catch-all and disposable domains, typos of big providers, dead domains, role accounts, a couple of
full mailboxes, internationalized addresses and a few case-only duplicates that legacy imports
left behind. For any size of at least `len(MIX) + 2` every kind appears at least once.

Same arguments, same account: one seeded `random.Random` drives everything and the world file is
read in its own order; `as_of` is a fixed date by default, not "now", for the same reason.
"""

from __future__ import annotations

import bisect
import itertools
import random
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from ac_hygiene.sandbox.activecampaign.account import SandboxAccount
from ac_hygiene.sandbox.activecampaign.mail_world import (
    DEFAULT_WORLD,
    ROLE_LOCAL_PARTS,
    DomainRoles,
    load_domain_roles,
)
from ac_hygiene.sandbox.activecampaign.records import ACTIVE, BOUNCED, UNCONFIRMED, UNSUBSCRIBED

AS_OF = datetime(2026, 1, 1, tzinfo=UTC)
HISTORY_S = 730 * 86_400  # contacts were created over the two years before `as_of`

# Share of each kind among generated contacts (mailbox_full adds its fixed addresses on top).
MIX: dict[str, float] = {
    "deliverable": 0.72,
    "unknown_mailbox": 0.06,
    "catch_all": 0.04,
    "disposable": 0.035,
    "typo": 0.03,
    "internationalized": 0.02,
    "role": 0.015,
    "null_mx": 0.012,
    "nxdomain": 0.012,
    "greylisted": 0.012,
    "dns_failure": 0.01,
    "blocked": 0.01,
    "down": 0.01,
    "no_mail_server": 0.009,
    "case_duplicate": 0.005,
}
# Misspellings of big providers; they must be absent from the world so that they are NXDOMAIN.
TYPO_DOMAINS = ("gmial.com", "hotmail.co", "yahooo.com")
FREE_PROVIDERS = ("gmail.com", "yahoo.com", "outlook.com", "hotmail.com")
# How often a deliverable address lands on each provider; other mailbox domains weigh 5.
PROVIDER_WEIGHT = {"gmail.com": 30, "yahoo.com": 14, "outlook.com": 10, "hotmail.com": 8}

FIRST_NAMES = (  # noqa: SIM905 (a word list reads better as words)
    "alice bob carol dave erin frank grace henry irene jack karen liam mia noah olivia paul "
    "quinn rachel sam tina uma victor wendy xavier yara zach amelia ben chloe daniel emma "
    "felix hannah isaac julia kevin laura max nina oscar penny ryan sofia tom vera will zoe"
).split()
LAST_NAMES = (  # noqa: SIM905
    "smith jones brown taylor wilson davies evans thomas johnson roberts walker wright "
    "robinson thompson white hughes edwards green hall wood harris lewis martin jackson "
    "clarke clark turner hill scott cooper morris ward moore king watson baker harrison "
    "morgan patel young allen mitchell james anderson phillips lee bell parker"
).split()
UNICODE_FIRST = ("jürgen", "zoë", "josé", "françois", "søren", "łukasz", "renée", "chloé")
UNICODE_LAST = ("müller", "garcía", "brontë", "núñez", "østergaard", "dvořák", "żak", "lefèvre")
WORDS = ["temp", "trash", "throwaway", "test", "burner", "spam", "quick", "junk", "fake", "noreply"]
LIST_NAMES = (
    "Newsletter",
    "Customers",
    "Leads",
    "Webinar attendees",
    "Product updates",
    "Partners",
    "Events",
    "Trial users",
    "VIP",
    "Blog subscribers",
    "Beta testers",
    "Re-engagement",
)
TAG_NAMES = (
    "customer",
    "lead",
    "newsletter",
    "webinar-2025",
    "vip",
    "churned",
    "trial",
    "partner",
    "event-attendee",
    "imported",
    "high-intent",
    "cold",
)
FIELDS = (("Company", "text"), ("Country", "dropdown"), ("Signup source", "text"))
COUNTRIES = ("United States", "Canada", "United Kingdom", "Germany", "France", "Brazil", "India")
SOURCES = ("website", "webinar", "import", "referral", "trade show")


class _Weighted:
    """A fixed weighted choice: one `random()` and a bisect (`random.choices` is 5x slower)."""

    def __init__(self, values: tuple[int, ...], weights: tuple[float, ...]) -> None:
        self.values = values
        self.cumulative = list(itertools.accumulate(weights))

    def pick(self, rng: random.Random) -> int:
        return self.values[bisect.bisect(self.cumulative, rng.random() * self.cumulative[-1])]


_LISTS_PER_CONTACT = _Weighted((0, 1, 2, 3), (15, 45, 25, 15))
_TAGS_PER_CONTACT = _Weighted((0, 1, 2, 3), (40, 30, 20, 10))
_STATUS = _Weighted((ACTIVE, UNSUBSCRIBED, BOUNCED, UNCONFIRMED), (85, 11, 3, 1))


def generate_account(
    contacts: int,
    seed: int = 0,
    lists: int = 8,
    tags: int = 10,
    *,
    as_of: datetime = AS_OF,
    world: Path = DEFAULT_WORLD,
    name: str = "sandbox",
) -> SandboxAccount:
    """A deterministic account of `contacts` contacts, `lists` lists and `tags` tags."""
    if contacts < 0 or lists < 0 or tags < 0:
        raise ValueError("contacts, lists and tags must not be negative")
    if as_of.tzinfo is None:
        raise ValueError("as_of must be timezone-aware (for example datetime(..., tzinfo=UTC))")
    rng = random.Random(seed)
    end = int(as_of.timestamp())
    start = end - HISTORY_S
    account = SandboxAccount(name=name)
    for i in range(lists):
        base = LIST_NAMES[i % len(LIST_NAMES)]
        label = base if i < len(LIST_NAMES) else f"{base} {i // len(LIST_NAMES) + 1}"
        account.add_list(label, cdate=start + rng.randrange(86_400 * 30))
    for i in range(tags):
        base = TAG_NAMES[i % len(TAG_NAMES)]
        label = base if i < len(TAG_NAMES) else f"{base}-{i // len(TAG_NAMES) + 1}"
        account.add_tag(label, cdate=start + rng.randrange(86_400 * 30))
    for title, kind in FIELDS:
        account.add_field(title, kind, cdate=start)

    emails = _Addresses(rng, load_domain_roles(world))
    kinds = _kinds(rng, contacts, len(emails.roles.full_mailboxes))
    created = sorted(start + int(rng.random() * HISTORY_S) for _ in range(contacts))
    list_ids, tag_ids = list(account.lists), list(account.tags)
    contact_id = 0
    titles: dict[str, str] = {}  # one "Smith" string for all Smiths: 100,000 contacts stay small
    for kind, cdate in zip(kinds, created, strict=True):
        contact_id += 1 + (rng.randint(1, 5) if rng.random() < 0.03 else 0)
        email, first, last = emails.make(kind)
        udate = cdate if rng.random() < 0.5 else cdate + int(rng.random() * (end - cdate))
        contact = account.add_contact(
            email,
            titles.setdefault(first, first.title()) if rng.random() < 0.9 else "",
            titles.setdefault(last, last.title()) if rng.random() < 0.9 else "",
            phone=f"+1 555 01{rng.randrange(100):02d}" if rng.random() < 0.1 else "",
            cdate=cdate,
            udate=udate,
            contact_id=contact_id,
        )
        _attach(rng, account, contact.id, list_ids, tag_ids, end)
    account.reserve_ids("contact", contact_id + 1 + rng.randint(0, 3))
    return account


def _kinds(rng: random.Random, contacts: int, full_mailboxes: int) -> list[str]:
    """One of each kind (when there is room), then weighted draws, in shuffled order."""
    mandatory = list(MIX) + ["mailbox_full"] * full_mailboxes
    if contacts < len(mandatory):
        rng.shuffle(mandatory)
        return mandatory[:contacts]
    drawn = rng.choices(list(MIX), weights=list(MIX.values()), k=contacts - len(mandatory))
    kinds = mandatory + drawn
    rng.shuffle(kinds)
    return kinds


def _pick(rng: random.Random, ids: list[int], k: int) -> list[int]:
    """`k` distinct ids; k is at most len(ids)."""
    if k > 1:
        return rng.sample(ids, k)
    return [rng.choice(ids)] * k if ids else []


def _attach(
    rng: random.Random,
    account: SandboxAccount,
    contact_id: int,
    list_ids: list[int],
    tag_ids: list[int],
    end: int,
) -> None:
    """Memberships, tags and field values: the part of a contact the API sideloads."""
    contact = account.contacts[contact_id]
    span = max(1, end - contact.cdate)
    k = min(len(list_ids), _LISTS_PER_CONTACT.pick(rng))
    # k <= 1 draws rng.choice even when k is 0 (the sequence every seed was generated with), but
    # not from an account without lists, which has nothing to choose from.
    for list_id in _pick(rng, list_ids, k):
        status = _STATUS.pick(rng)
        # Subscribed when created (the same int object: a large account stays small).
        row = account.set_membership(contact_id, list_id, status, now=contact.cdate, touch=False)
        if status in (UNSUBSCRIBED, BOUNCED):
            row.udate = contact.cdate + int(rng.random() * span)
            if status == BOUNCED and rng.random() < 0.6:
                contact.bounced_hard = True
    if not contact.bounced_hard and rng.random() < 0.002:
        contact.bounced_hard = True
    k = min(len(tag_ids), _TAGS_PER_CONTACT.pick(rng))
    for tag_id in _pick(rng, tag_ids, k):
        account.add_contact_tag(contact_id, tag_id, now=contact.cdate, touch=False)
    when = contact.cdate
    if rng.random() < 0.5:
        account.set_field_value(contact_id, 2, rng.choice(COUNTRIES), now=when, touch=False)
    if rng.random() < 0.3:
        account.set_field_value(contact_id, 3, rng.choice(SOURCES), now=when, touch=False)
    domain = contact.email.rpartition("@")[2].casefold()
    if domain not in FREE_PROVIDERS and rng.random() < 0.4:
        company = domain.split(".")[0].title()
        account.set_field_value(contact_id, 1, company, now=when, touch=False)


class _Addresses:
    """Makes unique addresses of each kind; `make(kind)` returns (email, first, last)."""

    def __init__(self, rng: random.Random, roles: DomainRoles) -> None:
        self.rng = rng
        self.roles = roles
        self.taken: set[str] = set()
        self.made: list[str] = []  # deliverable ones, for case-only duplicates
        probe = "alice.smith7"
        self.deliverable = [d for d, p in roles.mailbox.items() if p.fullmatch(probe)]
        if not self.deliverable:
            raise ValueError(
                "the mail world has no domain whose mailbox_pattern accepts first.last"
            )
        self._providers = _Weighted(
            tuple(range(len(self.deliverable))),
            tuple(PROVIDER_WEIGHT.get(d, 5) for d in self.deliverable),
        )
        companies = [d for d in self.deliverable if d not in FREE_PROVIDERS and d.isascii()]
        listed_roles = [
            f"{local}@{d}"
            for d, locals_ in roles.listed_mailboxes.items()
            for local in locals_
            if local in ROLE_LOCAL_PARTS
        ]
        pool = listed_roles + [f"{r}@{d}" for d in companies for r in ROLE_LOCAL_PARTS]
        self.role_pool = list(dict.fromkeys(pool))
        rng.shuffle(self.role_pool)
        self.full = list(roles.full_mailboxes)
        self.unicode_mailboxes = [
            f"{local}@{d}"
            for d, locals_ in roles.listed_mailboxes.items()
            for local in locals_
            if not local.isascii()
        ]
        self.typos = [d for d in TYPO_DOMAINS if d not in roles.all_domains]
        self._makers: dict[str, Callable[[], tuple[str, str, str]]] = {
            "deliverable": self._deliverable,
            "unknown_mailbox": self._unknown_mailbox,
            "catch_all": lambda: self._person_at(roles.catch_all),
            "disposable": self._disposable,
            "typo": lambda: self._person_at(self.typos),
            "internationalized": self._internationalized,
            "role": self._role,
            "null_mx": lambda: self._person_at(roles.null_mx),
            "nxdomain": lambda: self._person_at(roles.nxdomain),
            "greylisted": lambda: self._person_at(roles.greylisted),
            "dns_failure": lambda: self._person_at(roles.servfail),
            "blocked": lambda: self._person_at(roles.blocked),
            "down": lambda: self._person_at(roles.down),
            "no_mail_server": lambda: self._person_at(roles.no_mail_server),
            "case_duplicate": self._case_duplicate,
            "mailbox_full": self._full,
        }

    def make(self, kind: str) -> tuple[str, str, str]:
        return self._makers[kind]()

    def _claim(self, email: str) -> bool:
        key = email.casefold()
        if key in self.taken:
            return False
        self.taken.add(key)
        return True

    def _name(self) -> tuple[str, str]:
        return self.rng.choice(FIRST_NAMES), self.rng.choice(LAST_NAMES)

    def _person_at(self, domains: tuple[str, ...] | list[str]) -> tuple[str, str, str]:
        if not domains:  # the world lacks this kind: fall back to an ordinary address
            return self._deliverable()
        domain = self.rng.choice(domains)
        while True:
            first, last = self._name()
            email = f"{first}.{last}{self.rng.randint(1, 9999)}@{domain}"
            if self._claim(email):
                return email, first, last

    def _provider(self) -> str:
        return self.deliverable[self._providers.pick(self.rng)]

    def _deliverable(self) -> tuple[str, str, str]:
        domain = self._provider()
        while True:
            first, last = self._name()
            suffix = "" if self.rng.random() < 0.3 else str(self.rng.randint(1, 9999))
            local = f"{first}.{last}{suffix}"
            if self.rng.random() < 0.03:  # people type their names capitalized
                local = f"{first.title()}.{last.title()}{suffix}"
            email = f"{local}@{domain}"
            if self._claim(email):
                self.made.append(email)
                return email, first, last

    def _unknown_mailbox(self) -> tuple[str, str, str]:
        domain = self._provider()
        pattern = self.roles.mailbox[domain]
        listed = self.roles.listed_mailboxes.get(domain, ())
        while True:
            first, last = self._name()
            n = self.rng.randint(1, 99999)
            local = self.rng.choice((f"nobody-{n}", f"{first}_{last}{n}", f"{first}{last}{n}"))
            if pattern.fullmatch(local) or local in listed:
                continue
            email = f"{local}@{domain}"
            if self._claim(email):
                return email, first, last

    def _disposable(self) -> tuple[str, str, str]:
        if not self.roles.disposable:
            return self._deliverable()
        while True:
            email = (
                f"{self.rng.choice(WORDS)}{self.rng.randint(1, 99999)}"
                f"@{self.rng.choice(self.roles.disposable)}"
            )
            if self._claim(email):
                return email, "", ""

    def _internationalized(self) -> tuple[str, str, str]:
        while self.unicode_mailboxes:
            email = self.unicode_mailboxes.pop(0)
            if self._claim(email):
                return email, email.split("@")[0], ""
        idn = [d for d in self.deliverable if not d.isascii()] or self.deliverable
        shape = self.rng.random()
        while True:
            if shape < 0.4:  # an ASCII mailbox at an internationalized domain: deliverable
                first, last = self._name()
                email = f"{first}.{last}{self.rng.randint(1, 9999)}@{self.rng.choice(idn)}"
            else:  # a unicode local part: no such mailbox in the world
                first, last = self.rng.choice(UNICODE_FIRST), self.rng.choice(UNICODE_LAST)
                domain = self.rng.choice(idn) if shape < 0.7 else self.deliverable[0]
                email = f"{first}.{last}{self.rng.randint(1, 9999)}@{domain}"
            if self._claim(email):
                return email, first, last

    def _role(self) -> tuple[str, str, str]:
        while self.role_pool:
            email = self.role_pool.pop()
            if self._claim(email):
                return email, "", ""
        return self._deliverable()  # a real list has only so many role mailboxes

    def _full(self) -> tuple[str, str, str]:
        while self.full:
            email = self.full.pop(0)
            if self._claim(email):
                return email, email.split("@")[0].split(".")[0], ""
        return self._deliverable()

    def _case_duplicate(self) -> tuple[str, str, str]:
        """A case variant of an earlier address: a pair a legacy import left behind."""
        for _ in range(5):
            if not self.made:
                break
            original = self.rng.choice(self.made)
            local, _, domain = original.partition("@")
            variant = f"{local.upper()}@{domain.title()}"
            if variant != original and variant not in self.taken:
                self.taken.add(variant)  # exact spelling; its casefold is the original's
                first, _, last = local.partition(".")
                return variant, first, last.rstrip("0123456789")
        return self._deliverable()

"""Large synthetic worlds for benchmarks: hundreds of domains shaped like the real internet's.

A real list's domains are mostly companies hosted by a few providers (Google Workspace, Microsoft
365, shared hosting) plus a long tail of self-hosted servers, free mailbox providers, disposable
services and dead or misconfigured domains. The generated world reproduces that mix, so a verifier
benchmarked on it meets the same sharing of MX hosts (connection reuse pays off) and the same
failure modes (greylisting, blocks, hosts that are down) as in production, and the same words:
each provider rejects unknown mailboxes with its own documented text (Gmail's 5.1.1, Microsoft
365's 5.1.10, Yahoo's "This user doesn't have a yahoo.com account", Exim's "Unrouteable
address", ...), some servers reject our sender at RCPT (Postfix with delayed rejects, Exim sender
callouts) and some reject every recipient, postmaster included.

The world is built as plain data and goes through `MailWorld.from_dict`, so it obeys exactly the
rules of a world file.
"""

from __future__ import annotations

import random
from typing import Any

from ac_hygiene.sandbox.mailworld.world import MailWorld

FIRST_NAMES = (
    "alice", "bob", "carol", "dan", "erin", "frank", "grace", "hank", "irene", "jack", "karen",
    "liam", "maria", "noah", "olga", "paul", "quinn", "rosa", "sam", "tara", "umar", "vera",
    "walt", "xena", "yusuf", "zoe", "ana", "ben", "chloe", "david", "emma", "felix", "hugo",
    "ines", "jonas", "lena", "marco", "nina", "oscar", "sofia",
)  # fmt: skip
LAST_NAMES = (
    "smith", "jones", "brown", "garcia", "miller", "davis", "martin", "lopez", "wilson", "moore",
    "taylor", "thomas", "white", "harris", "clark", "lewis", "walker", "young", "allen", "king",
    "wright", "scott", "green", "baker", "adams", "nelson", "hill", "campbell", "mitchell",
    "roberts", "muller", "schmidt", "dupont", "rossi", "novak", "silva", "costa", "berg",
    "jensen", "kowalski",
)  # fmt: skip
ROLE_MAILBOXES = ("info", "sales", "support", "admin", "contact", "office", "billing", "hr")

# Replies to an unknown recipient, in the words each provider documents (see the corpus in
# ac_hygiene_tests/verification/corpus.py for the sources).
GMAIL_UNKNOWN = (
    "550-5.1.1 The email account that you tried to reach does not exist. Please try\n"
    "550-5.1.1 double-checking the recipient's email address for typos or\n"
    "550-5.1.1 unnecessary spaces. Learn more at\n"
    "550 5.1.1  https://support.google.com/mail/?p=NoSuchUser a1si123 - gsmtp"
)
M365_UNKNOWN = (
    "550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient {address} not found by SMTP address "
    "lookup"
)
PROVIDER_UNKNOWN = {
    "gmail.com": GMAIL_UNKNOWN,
    "yahoo.com": "554 delivery error: dd This user doesn't have a yahoo.com account ({address}) "
    "[0] - mta1234.mail.bf1.yahoo.com",
    "outlook.com": "550 5.5.0 Requested action not taken: mailbox unavailable (S2017062302).",
    "hotmail.com": "550 5.5.0 Requested action not taken: mailbox unavailable (S2017062302).",
    "aol.com": "550 MAILBOX NOT FOUND",
    "icloud.com": "550 5.1.1 <{address}>: user does not exist",
}
PROVIDER_FULL = {
    "gmail.com": "452 4.2.2 The email account that you tried to reach is over quota. - gsmtp",
    "icloud.com": "552 5.2.2 <{address}>: user is over quota",
}
# Self-hosted and gateway servers: what their MTA says for an unknown recipient.
SERVER_UNKNOWN = (
    "550 5.1.1 <{address}>: Recipient address rejected: User unknown in local recipient table",
    "550 5.1.1 <{address}>: Recipient address rejected: User unknown in virtual mailbox table",
    "550 Unrouteable address",
    "550 5.1.1 <{address}>... User unknown",
    "550 5.1.1 <{address}> User doesn't exist: {address}",
    "550 No such user ({address})",
    "550 Invalid Recipient - https://community.mimecast.com/docs/DOC-1369#550",
    "550 5.1.1 User Unknown",
)
SERVER_FULL = (
    "552 5.2.2 <{address}> Quota exceeded (mailbox for user is full)",
    "452 4.2.2 <{address}> Quota exceeded (mailbox for user is full)",
    "552 Requested mail action aborted: exceeded storage allocation",
)
# Rejections of our MAIL FROM, given at RCPT time: never a verdict on the recipient.
SENDER_REJECTS = (
    "550 5.1.0 <{sender}>: Sender address rejected: Domain not found",
    "450 4.1.8 <{sender}>: Sender address rejected: Domain not found",
    "553 5.7.1 <{sender}>: Sender address rejected: not logged in",
    "550-Verification failed for <{sender}>\n"
    "550-Called:   192.0.2.9\n"
    "550-Response: 550 5.1.1 <{sender}>: Recipient address rejected: User unknown\n"
    "550 Sender verify failed",
)

# Free providers: (domain, MX host). Their mailboxes are first.last[digits].
FREE_PROVIDERS = (
    ("gmail.com", "gmail-smtp-in.l.google.com"),
    ("yahoo.com", "mta5.am0.yahoodns.net"),
    ("outlook.com", "outlook-com.olc.protection.outlook.com"),
    ("hotmail.com", "hotmail-com.olc.protection.outlook.com"),
    ("aol.com", "mx-aol.mail.gm0.yahoodns.net"),
    ("icloud.com", "mx01.mail.icloud.com"),
)
# Disposable services, all on the disposable-email-domains list, all catch-all.
DISPOSABLE_DOMAINS = (
    "mailinator.com",
    "yopmail.com",
    "guerrillamail.com",
    "10minutemail.com",
    "trashmail.com",
    "sharklasers.com",
)
PERSON_PATTERN = r"[a-z]+\.[a-z]+[0-9]*"

_SYLLABLES = (
    "ac", "bel", "cor", "dyn", "ex", "fin", "gen", "hal", "in", "jet", "kor", "lum", "max",
    "nov", "or", "pix", "quo", "ra", "sol", "tek", "ul", "vox", "wen", "xa", "zen", "tri",
    "ver", "mont", "port", "star",
)  # fmt: skip
_SUFFIXES = ("", "", "", "tech", "labs", "group", "corp", "media", "soft", "works", "systems")
_TLDS = ("com", "com", "com", "net", "io", "co", "org", "de", "fr", "nl", "co.uk", "com.au")

# Share of the generated company domains per kind; "company" takes what is left.
_KIND_SHARES = {
    "catch_all": 0.08,
    "null_mx": 0.03,
    "nxdomain": 0.04,
    "servfail": 0.01,
    "no_mail": 0.02,
    "a_only": 0.03,
    "greylisted": 0.02,
    "blocked": 0.015,
    "down": 0.015,
    "sender_reject": 0.02,
    "rejects_all": 0.01,
}
_GOOGLE_MX = [[1, "aspmx.l.google.com"], [5, "alt1.aspmx.l.google.com"]]
_M365_POOL = ("127.0.250.1", "127.0.250.2", "127.0.250.3", "127.0.250.4")
_PROVIDERS = ("mailhost-eu.net", "zonemx.com", "hostpoint-mail.ch")
_GREYLIST_SECONDS = 2


def generate_world(domains: int, seed: int = 0, mailboxes_per_domain: int = 8) -> MailWorld:
    """A world of `domains` domains (at least 20), the same for the same arguments.

    Besides the free and disposable providers, company domains get explicit mailboxes
    (`mailboxes_per_domain` people plus some role mailboxes) or a first.last pattern, and are
    hosted like real companies: Google Workspace, Microsoft 365 (per-tenant MX names on a pool
    of shared addresses), three shared hosting providers (which cap recipients per session), or
    their own servers. Greylisted, blocked and down domains run their own servers.
    """
    return MailWorld.from_dict(generate_world_data(domains, seed, mailboxes_per_domain))


def generate_world_data(domains: int, seed: int = 0, mailboxes_per_domain: int = 8) -> dict:
    """The plain data behind `generate_world` (write it out as YAML to reuse a world)."""
    if domains < 20:
        raise ValueError(f"a generated world needs at least 20 domains, got {domains}")
    if mailboxes_per_domain < 1:
        raise ValueError(f"mailboxes_per_domain must be >= 1, got {mailboxes_per_domain}")
    return _Builder(random.Random(seed), mailboxes_per_domain).build(domains)


class _Builder:
    """Holds the random source and the shared host table while the domains are drawn."""

    def __init__(self, rng: random.Random, mailboxes_per_domain: int):
        self.rng = rng
        self.mailboxes_per_domain = mailboxes_per_domain
        self.hosts: dict[str, str] = {}
        self.a_only = 0

    def build(self, count: int) -> dict[str, Any]:
        spec: dict[str, dict[str, Any]] = {}
        for domain, mx in FREE_PROVIDERS:
            replies = {"unknown": PROVIDER_UNKNOWN[domain]}
            if domain in PROVIDER_FULL:
                replies["full"] = PROVIDER_FULL[domain]
            spec[domain] = {
                "mx": [[5, mx]],
                "mailbox_pattern": PERSON_PATTERN,
                "full_mailboxes": sorted({self.person() for _ in range(3)}),
                "replies": replies,
            }
        for domain in DISPOSABLE_DOMAINS:
            spec[domain] = {"mx": [[10, f"mx.{domain}"]], "catch_all": True}
        names = self.company_names(count - len(spec), taken=set(spec))
        kinds = _kinds(len(names))
        self.rng.shuffle(kinds)
        for name, kind in zip(names, kinds, strict=True):
            spec[name] = self.company(name, kind)
        return {"hosts": self.hosts, "domains": spec}

    def person(self) -> str:
        return f"{self.rng.choice(FIRST_NAMES)}.{self.rng.choice(LAST_NAMES)}"

    def company_names(self, count: int, taken: set[str]) -> list[str]:
        names: list[str] = []
        seen = set(taken)
        while len(names) < count:
            stem = "".join(self.rng.choice(_SYLLABLES) for _ in range(self.rng.randint(2, 3)))
            name = f"{stem}{self.rng.choice(_SUFFIXES)}.{self.rng.choice(_TLDS)}"
            if name not in seen:
                seen.add(name)
                names.append(name)
        return names

    def mailboxes(self) -> dict[str, Any]:
        """Mailboxes in the company's naming scheme; half the first.last ones publish a pattern."""
        rng = self.rng
        scheme = rng.choice(("first.last", "first.last", "flast", "first"))
        roles = rng.sample(ROLE_MAILBOXES, rng.randint(0, 3))
        if scheme == "first.last" and rng.random() < 0.5:
            return {"mailbox_pattern": PERSON_PATTERN, **({"mailboxes": roles} if roles else {})}
        people: set[str] = set()
        while len(people) < self.mailboxes_per_domain:
            first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
            people.add(
                {"first.last": f"{first}.{last}", "flast": f"{first[0]}{last}"}.get(scheme, first)
            )
        mailboxes = sorted(people)
        mail: dict[str, Any] = {}
        if len(mailboxes) > 1 and rng.random() < 0.2:
            mail["full_mailboxes"] = [mailboxes.pop()]
        mail["mailboxes"] = mailboxes + roles
        return mail

    def hosting(self, name: str) -> dict[str, Any]:
        """MX records of a company that uses a provider, or of its own server."""
        roll = self.rng.random()
        if roll < 0.35:
            return {"mx": _GOOGLE_MX, "replies": {"unknown": GMAIL_UNKNOWN}}
        if roll < 0.65:
            host = f"{name.replace('.', '-')}.mail.protection.outlook.com"
            self.hosts[host] = self.rng.choice(_M365_POOL)
            return {"mx": [[0, host]], "replies": {"unknown": M365_UNKNOWN}}
        if roll < 0.85:
            provider = self.rng.choice(_PROVIDERS)
            return {
                "mx": [[10, f"mx1.{provider}"], [20, f"mx2.{provider}"]],
                "max_recipients": 20,
                "replies": {"unknown": SERVER_UNKNOWN[_PROVIDERS.index(provider)]},
            }
        return self.own_server(name)

    def own_server(self, name: str) -> dict[str, Any]:
        replies = {
            "unknown": self.rng.choice(SERVER_UNKNOWN),
            "full": self.rng.choice(SERVER_FULL),
        }
        if self.rng.random() < 0.5:
            return {"mx": [[10, f"mail.{name}"]], "replies": replies}
        return {"mx": [[10, f"mx1.{name}"], [20, f"mx2.{name}"]], "replies": replies}

    def a_only_address(self) -> str:
        index = self.a_only
        self.a_only += 1
        return f"127.0.{240 + index // 250}.{index % 250 + 1}"

    def company(self, name: str, kind: str) -> dict[str, Any]:
        if kind == "nxdomain":
            return {"nxdomain": True}
        if kind == "servfail":
            return {"servfail": True}
        if kind == "null_mx":
            return {"null_mx": True, "txt": ["v=spf1 -all"]}
        if kind == "no_mail":
            return {"txt": ["v=spf1 -all"]}
        if kind == "catch_all":
            return {**self.hosting(name), "catch_all": True}
        if kind == "blocked":
            return {**self.own_server(name), "block": True}
        mail = self.mailboxes()
        if kind == "a_only":
            return {"a": self.a_only_address(), **mail}
        if kind == "greylisted":
            return {**self.own_server(name), **mail, "greylist_seconds": _GREYLIST_SECONDS}
        if kind == "down":
            return {**self.own_server(name), **mail, "down": True}
        if kind == "sender_reject":
            return {**self.own_server(name), **mail,
                    "sender_reject": self.rng.choice(SENDER_REJECTS)}  # fmt: skip
        if kind == "rejects_all":
            return {**self.own_server(name), **mail, "rejects_all": True, "postmaster": False}
        return {**self.hosting(name), **mail}


def _kinds(count: int) -> list[str]:
    kinds = [kind for kind, share in _KIND_SHARES.items() for _ in range(round(share * count))]
    return kinds[:count] + ["company"] * max(0, count - len(kinds))

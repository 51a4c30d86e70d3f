"""Realistic address lists drawn from a world, with the truth about each address.

A verify benchmark needs input that looks like a real contact list: mostly good addresses at
free providers and companies, a tail of dead mailboxes, catch-alls, disposable and role addresses,
typos of popular domains, broken syntax and the same person twice in different case. Each sample
carries the kind it was drawn as and its truth: the status a verifier that reads every reply
correctly must give it, from the world's own description (`expected_status`), so a benchmark
can report accuracy as well as speed. Any world works (the default one, a generated one, a test
world): kinds the world cannot supply are replaced by deliverable addresses.

`distinct=True` gives what an ActiveCampaign list holds: every address once (contacts are unique
by email; the engine's mailbox key is used, so `a.b@gmail.com` and `ab@gmail.com` are one), no
case duplicates.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import disposable_email_domains
import idna

from ac_hygiene.sandbox.mailworld.generate import FIRST_NAMES, LAST_NAMES, ROLE_MAILBOXES
from ac_hygiene.sandbox.mailworld.world import DomainSpec, Mailbox, MailWorld

# kind -> share of the sample; "deliverable" takes what is left (and what a world cannot supply).
SHARES = {
    "unknown_mailbox": 0.10,
    "catch_all": 0.06,
    "disposable": 0.05,
    "role": 0.05,
    "typo": 0.04,
    "dead_domain": 0.06,
    "unreachable_server": 0.04,
    "invalid_syntax": 0.02,
    "case_duplicate": 0.04,
}
POPULAR_TYPOS = {
    "gmail.com": ("gmial.com", "gmal.com", "gmail.co", "gnail.com"),
    "yahoo.com": ("yahooo.com", "yaho.com", "yahoo.co"),
    "hotmail.com": ("hotmial.com", "hotmail.co", "hotmal.com"),
    "outlook.com": ("outlok.com", "outlook.co"),
    "icloud.com": ("icloud.co", "iclod.com"),
    "aol.com": ("aol.co",),
}
_FREE = frozenset(POPULAR_TYPOS)
_TRIES = 40
_DISTINCT_TRIES = 20


@dataclass(frozen=True)
class SampleAddress:
    """One address of a sample, the kind it was drawn as, and the status it truly has."""

    email: str
    kind: str
    truth: str = ""  # deliverable / undeliverable / risky / unknown (see `expected_status`)


def expected_status(world: MailWorld, email: str, kind: str = "") -> str:
    """The status the world's description supports for `email` (what a perfect verifier says).

    A server that refuses our sender, refuses everything (postmaster too), blocks us or is down,
    and a domain whose DNS fails, support no verdict: unknown. A full mailbox, a catch-all, a
    disposable domain and a role mailbox are risky; an unknown mailbox on a server that tells
    mailboxes apart, a dead domain and broken syntax are undeliverable. Greylisting only delays.
    """
    if kind == "invalid_syntax":
        return "undeliverable"
    local, _, domain_text = email.rpartition("@")
    spec = world.domain(domain_text)
    if spec is not None and spec.servfail:
        return "unknown"
    if spec is None or spec.nxdomain or spec.null_mx or not spec.mail_targets:
        return "undeliverable"
    if spec.name in disposable_email_domains.blocklist:
        return "risky"
    if spec.down or spec.block or spec.sender_reject is not None or spec.rejects_all:
        return "unknown"
    verdict = spec.classify(local)
    if verdict is Mailbox.UNKNOWN:
        return "undeliverable"
    if verdict in (Mailbox.FULL, Mailbox.CATCH_ALL):
        return "risky"
    if kind == "role" or local.lower() in ROLE_MAILBOXES:
        return "risky"
    return "deliverable"


def mailbox_key(email: str) -> str:
    """The mailbox an address reaches, for `distinct` samples: case-folded; Gmail without dots."""
    local, _, domain = email.casefold().rpartition("@")
    if domain in ("gmail.com", "googlemail.com"):
        return f"{local.partition('+')[0].replace('.', '')}@gmail.com"
    return f"{local}@{domain}"


def sample_addresses(world: MailWorld, n: int, seed: int = 0, distinct: bool = False) -> list[str]:
    """`n` addresses in a realistic mix for `world`, the same for the same seed."""
    return [sample.email for sample in labelled_sample(world, n, seed, distinct=distinct)]


def labelled_sample(
    world: MailWorld, n: int, seed: int = 0, *, distinct: bool = False
) -> list[SampleAddress]:
    """Like `sample_addresses`, with the kind and the truth of every address."""
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    rng = random.Random(seed)
    pools = _Pools(world)
    counts = {kind: int(share * n) for kind, share in SHARES.items()}
    duplicates = counts.pop("case_duplicate")
    if distinct:
        duplicates = 0  # their share goes to deliverable addresses
    seen: set[str] = set()
    counts["deliverable"] = n - duplicates - sum(counts.values())
    drawers: dict[str, Callable[[random.Random], str | None]] = {
        "deliverable": pools.deliverable,
        "unknown_mailbox": pools.unknown_mailbox,
        "catch_all": pools.catch_all,
        "disposable": pools.disposable,
        "role": pools.role,
        "typo": pools.typo,
        "dead_domain": pools.dead_domain,
        "unreachable_server": pools.unreachable_server,
        "invalid_syntax": _invalid_syntax,
    }
    samples: list[SampleAddress] = []

    def draw(kind: str) -> tuple[str | None, str]:
        for _ in range(_DISTINCT_TRIES if distinct else 1):
            email = drawers[kind](rng)
            if email is None:
                break
            if not distinct or mailbox_key(email) not in seen:
                return email, kind
        for _ in range(_DISTINCT_TRIES * 10 if distinct else 1):
            email = pools.deliverable(rng, digits=distinct)
            if email is None or not distinct or mailbox_key(email) not in seen:
                return email, "deliverable"
        raise ValueError(f"cannot draw {n} distinct addresses from this world")

    for kind, count in counts.items():
        for _ in range(count):
            email, kind_drawn = draw(kind)
            if email is None:
                raise ValueError("the world has no domain with mailboxes to draw addresses from")
            seen.add(mailbox_key(email))
            samples.append(
                SampleAddress(email, kind_drawn, expected_status(world, email, kind_drawn))
            )
    rng.shuffle(samples)
    for _ in range(duplicates if samples else 0):
        original = rng.choice(samples)
        position = rng.randint(0, len(samples))
        samples.insert(
            position,
            SampleAddress(_case_variant(rng, original.email), "case_duplicate", original.truth),
        )
    return samples


def _person(rng: random.Random) -> str:
    return f"{rng.choice(FIRST_NAMES)}.{rng.choice(LAST_NAMES)}"


def _case_variant(rng: random.Random, email: str) -> str:
    local, _, domain = email.rpartition("@")
    if rng.random() < 0.5:
        return f"{local.title()}@{domain.upper()}"
    return f"{local.upper()}@{domain.title()}"


def _invalid_syntax(rng: random.Random) -> str:
    person = _person(rng)
    first, _, last = person.partition(".")
    return rng.choice(
        (
            f"{person}@",
            f"{first}..{last}@gmail.com",
            f"{first} {last}@gmail.com",
            f"@{last}.com",
            f"{person}.gmail.com",
            f"{person}@gmail",
            f"{person}@@yahoo.com",
        )
    )


class _Pools:
    """The world's domains sorted by what a sender would meet there."""

    def __init__(self, world: MailWorld):
        domains = sorted(world.domains.values(), key=lambda spec: spec.name)
        live = [
            spec
            for spec in domains
            if spec.has_mail_behaviour
            and not spec.down
            and not spec.block
            and spec.sender_reject is None
            and not spec.rejects_all
        ]
        live = [spec for spec in live if not spec.greylist_seconds]
        self.disposable_domains = [
            spec for spec in live if spec.name in disposable_email_domains.blocklist
        ]
        disposable = {spec.name for spec in self.disposable_domains}
        self.mailbox_domains = [
            spec
            for spec in live
            if not spec.catch_all and (spec.mailboxes or spec.mailbox_pattern is not None)
        ]
        self.free = [spec for spec in self.mailbox_domains if spec.name in _FREE]
        self.companies = [spec for spec in self.mailbox_domains if spec.name not in _FREE]
        self.catch_all_domains = [
            spec for spec in live if spec.catch_all and spec.name not in disposable
        ]
        self.dead = [
            spec
            for spec in domains
            if spec.nxdomain or spec.null_mx or spec.servfail or not spec.mail_targets
        ]
        self.unreachable = [
            spec
            for spec in domains
            if spec.down
            or spec.block
            or spec.greylist_seconds
            or spec.sender_reject is not None
            or spec.rejects_all
        ]

    def _local_for(
        self,
        rng: random.Random,
        spec: DomainSpec,
        wanted: Mailbox,
        roles_ok: bool = False,
        digits: bool = False,
    ) -> str | None:
        explicit = sorted(m for m in spec.mailboxes if roles_ok or m not in ROLE_MAILBOXES)
        for _ in range(_TRIES):
            if wanted is Mailbox.MAILBOX and explicit and rng.random() < 0.5 and not digits:
                local = rng.choice(explicit)
            elif wanted is Mailbox.MAILBOX and digits:
                local = _person(rng) + str(rng.randint(1, 9999))
            elif wanted is Mailbox.MAILBOX:
                local = _person(rng) + (str(rng.randint(1, 99)) if rng.random() < 0.2 else "")
            else:
                local = rng.choice(FIRST_NAMES) + rng.choice(LAST_NAMES) + str(rng.randint(1, 999))
            if spec.classify(local) is wanted:
                return local
        return rng.choice(explicit) if wanted is Mailbox.MAILBOX and explicit else None

    def deliverable(self, rng: random.Random, digits: bool = False) -> str | None:
        pool = self.free if self.free and rng.random() < 0.4 else self.mailbox_domains
        return self._pick(rng, pool, Mailbox.MAILBOX, digits)

    def unknown_mailbox(self, rng: random.Random) -> str | None:
        return self._pick(rng, self.mailbox_domains, Mailbox.UNKNOWN)

    def _pick(
        self, rng: random.Random, pool: Sequence[DomainSpec], wanted: Mailbox, digits: bool = False
    ) -> str | None:
        for _ in range(_TRIES):
            if not pool:
                return None
            spec = rng.choice(pool)
            local = self._local_for(rng, spec, wanted, digits=digits)
            if local is not None:
                return f"{local}@{_display(spec)}"
        return None

    def catch_all(self, rng: random.Random) -> str | None:
        if not self.catch_all_domains:
            return None
        return f"{_person(rng)}@{_display(rng.choice(self.catch_all_domains))}"

    def disposable(self, rng: random.Random) -> str | None:
        if not self.disposable_domains:
            return None
        local = rng.choice(FIRST_NAMES) + str(rng.randint(100, 99999))
        return f"{local}@{rng.choice(self.disposable_domains).name}"

    def role(self, rng: random.Random) -> str | None:
        if not self.companies:
            return None
        return f"{rng.choice(ROLE_MAILBOXES)}@{_display(rng.choice(self.companies))}"

    def typo(self, rng: random.Random) -> str | None:
        typos = [typo for spec in self.free for typo in POPULAR_TYPOS.get(spec.name, ())]
        if not typos:
            return None
        return f"{_person(rng)}@{rng.choice(typos)}"

    def dead_domain(self, rng: random.Random) -> str | None:
        if not self.dead:
            return None
        return f"{_person(rng)}@{_display(rng.choice(self.dead))}"

    def unreachable_server(self, rng: random.Random) -> str | None:
        if not self.unreachable:
            return None
        spec = rng.choice(self.unreachable)
        local = self._local_for(rng, spec, Mailbox.MAILBOX) or _person(rng)
        return f"{local}@{_display(spec)}"


def _display(spec: DomainSpec) -> str:
    """The domain as a person would type it (unicode for IDN domains), as contact lists hold it."""
    if "xn--" not in spec.name:
        return spec.name
    try:
        return idna.decode(spec.name)
    except idna.IDNAError:
        return spec.name

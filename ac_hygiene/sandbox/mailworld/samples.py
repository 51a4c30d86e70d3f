"""Realistic address lists drawn from a world, with the truth about each address.

A verify benchmark needs input that looks like a real contact list: mostly good addresses at
free providers and companies, a tail of dead mailboxes, catch-alls, disposable and role addresses,
typos of popular domains, broken syntax and the same person twice in different case. Each sample
carries the kind it was drawn as, so a benchmark can report accuracy as well as speed. Any world
works (the default one, a generated one, a test world): kinds the world cannot supply are
replaced by deliverable addresses.
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


@dataclass(frozen=True)
class SampleAddress:
    """One address of a sample and the kind it was drawn as (the expected verdict's family)."""

    email: str
    kind: str


def sample_addresses(world: MailWorld, n: int, seed: int = 0) -> list[str]:
    """`n` addresses in a realistic mix for `world`, the same for the same seed."""
    return [sample.email for sample in labelled_sample(world, n, seed)]


def labelled_sample(world: MailWorld, n: int, seed: int = 0) -> list[SampleAddress]:
    """Like `sample_addresses`, with the kind of every address."""
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    rng = random.Random(seed)
    pools = _Pools(world)
    counts = {kind: int(share * n) for kind, share in SHARES.items()}
    duplicates = counts.pop("case_duplicate")
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
    for kind, count in counts.items():
        for _ in range(count):
            email = drawers[kind](rng)
            if email is None:
                email, kind_drawn = pools.deliverable(rng), "deliverable"
            else:
                kind_drawn = kind
            if email is None:
                raise ValueError("the world has no domain with mailboxes to draw addresses from")
            samples.append(SampleAddress(email, kind_drawn))
    rng.shuffle(samples)
    for _ in range(duplicates if samples else 0):
        original = rng.choice(samples)
        position = rng.randint(0, len(samples))
        samples.insert(
            position, SampleAddress(_case_variant(rng, original.email), "case_duplicate")
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
            spec for spec in domains if spec.has_mail_behaviour and not spec.down and not spec.block
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
            spec for spec in domains if spec.down or spec.block or spec.greylist_seconds
        ]

    def _local_for(
        self, rng: random.Random, spec: DomainSpec, wanted: Mailbox, roles_ok: bool = False
    ) -> str | None:
        explicit = sorted(m for m in spec.mailboxes if roles_ok or m not in ROLE_MAILBOXES)
        for _ in range(_TRIES):
            if wanted is Mailbox.MAILBOX and explicit and rng.random() < 0.5:
                local = rng.choice(explicit)
            elif wanted is Mailbox.MAILBOX:
                local = _person(rng) + (str(rng.randint(1, 99)) if rng.random() < 0.2 else "")
            else:
                local = rng.choice(FIRST_NAMES) + rng.choice(LAST_NAMES) + str(rng.randint(1, 999))
            if spec.classify(local) is wanted:
                return local
        return rng.choice(explicit) if wanted is Mailbox.MAILBOX and explicit else None

    def deliverable(self, rng: random.Random) -> str | None:
        pool = self.free if self.free and rng.random() < 0.4 else self.mailbox_domains
        return self._pick(rng, pool, Mailbox.MAILBOX)

    def unknown_mailbox(self, rng: random.Random) -> str | None:
        return self._pick(rng, self.mailbox_domains, Mailbox.UNKNOWN)

    def _pick(self, rng: random.Random, pool: Sequence[DomainSpec], wanted: Mailbox) -> str | None:
        for _ in range(_TRIES):
            if not pool:
                return None
            spec = rng.choice(pool)
            local = self._local_for(rng, spec, wanted)
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

"""What the account generator needs to know about the mail world: which domain plays which part.

The world file belongs to the mail-world sandbox, but the generator reads it with `yaml.safe_load`
itself rather than importing that package: the two sandboxes stay independent, and the generated
addresses follow whatever the world file says (add a deliverable domain there and generated
accounts start using it).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from disposable_email_domains import blocklist as _DISPOSABLE

DEFAULT_WORLD = Path(__file__).resolve().parents[1] / "worlds" / "default.yaml"
ROLE_LOCAL_PARTS = ("info", "sales", "support", "admin", "contact", "billing", "office", "hello")


@dataclass(frozen=True)
class DomainRoles:
    """Domains of the world grouped by the outcome a verifier should reach for them."""

    mailbox: dict[str, re.Pattern[str]]  # domain -> full-match pattern of real local parts
    listed_mailboxes: dict[str, tuple[str, ...]]
    full_mailboxes: tuple[str, ...]  # complete addresses
    greylisted: tuple[str, ...]
    catch_all: tuple[str, ...]
    disposable: tuple[str, ...]
    null_mx: tuple[str, ...]
    nxdomain: tuple[str, ...]
    servfail: tuple[str, ...]
    blocked: tuple[str, ...]
    down: tuple[str, ...]
    no_mail_server: tuple[str, ...]  # the domain exists but has neither MX nor A
    internationalized: tuple[str, ...]
    all_domains: frozenset[str] = field(default_factory=frozenset)


def load_domain_roles(path: Path = DEFAULT_WORLD) -> DomainRoles:
    """Classify the world's domains; raises ValueError if the file is not a mail world."""
    world = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    domains = world.get("domains") if isinstance(world, dict) else None
    if not isinstance(domains, dict):
        raise ValueError(f"{path}: not a mail world (no 'domains' mapping)")
    groups: dict[str, list[str]] = {
        k: []
        for k in (
            "greylisted",
            "catch_all",
            "disposable",
            "null_mx",
            "nxdomain",
            "servfail",
            "blocked",
            "down",
            "no_mail_server",
            "internationalized",
        )
    }
    mailbox: dict[str, re.Pattern[str]] = {}
    listed: dict[str, tuple[str, ...]] = {}
    full: list[str] = []
    for domain, spec in domains.items():
        spec = spec or {}
        full += [f"{local}@{domain}" for local in spec.get("full_mailboxes", ())]
        listed[domain] = tuple(spec.get("mailboxes", ()))
        if not domain.isascii():
            groups["internationalized"].append(domain)
        if spec.get("nxdomain"):
            groups["nxdomain"].append(domain)
        elif spec.get("servfail"):
            groups["servfail"].append(domain)
        elif spec.get("null_mx"):
            groups["null_mx"].append(domain)
        elif spec.get("down"):
            groups["down"].append(domain)
        elif spec.get("block"):
            groups["blocked"].append(domain)
        elif spec.get("catch_all"):
            kind = "disposable" if domain.casefold() in _DISPOSABLE else "catch_all"
            groups[kind].append(domain)
        elif spec.get("greylist_seconds"):
            groups["greylisted"].append(domain)
        elif spec.get("mailbox_pattern"):
            mailbox[domain] = re.compile(spec["mailbox_pattern"], re.IGNORECASE)
        elif not (spec.get("mx") or spec.get("a") or spec.get("aaaa")):
            groups["no_mail_server"].append(domain)
    return DomainRoles(
        mailbox=mailbox,
        listed_mailboxes=listed,
        full_mailboxes=tuple(full),
        all_domains=frozenset(domains),
        **{k: tuple(v) for k, v in groups.items()},
    )

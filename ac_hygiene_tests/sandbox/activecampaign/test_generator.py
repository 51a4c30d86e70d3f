"""The generated account: deterministic, realistically mixed, shaped like a real account.

The mix is checked with a classifier written here from the world file alone, independently of the
generator's own bookkeeping: what matters is what a verifier would find, not what the generator
meant.
"""

from __future__ import annotations

import itertools
import re
from collections import Counter
from datetime import UTC, datetime

import pytest
import yaml

from ac_hygiene.sandbox.activecampaign import generate_account
from ac_hygiene.sandbox.activecampaign.generator import AS_OF, HISTORY_S
from ac_hygiene.sandbox.activecampaign.mail_world import DEFAULT_WORLD

ROLES = {"info", "sales", "support", "admin", "contact", "billing", "office", "hello"}
DISPOSABLE = {"mailinator.com", "yopmail.com"}
FREE = {"gmail.com", "yahoo.com", "outlook.com", "hotmail.com"}


def _classify(email: str, domains: dict) -> str:
    local, _, domain = email.rpartition("@")
    domain, local_cf = domain.lower(), local.casefold()
    spec = domains.get(domain)
    if spec is None:
        return "nxdomain (typo)"
    for flag, kind in (
        ("nxdomain", "nxdomain"),
        ("servfail", "dns_failure"),
        ("null_mx", "null_mx"),
        ("down", "down"),
        ("block", "blocked"),
        ("greylist_seconds", "greylisted"),
    ):
        if spec.get(flag):
            return kind
    if spec.get("catch_all"):
        return "disposable" if domain in DISPOSABLE else "catch_all"
    if not spec.get("mx") and not spec.get("a"):
        return "no_mail_server"
    if local_cf in {m.casefold() for m in spec.get("full_mailboxes", ())}:
        return "mailbox_full"
    if local_cf in ROLES:
        return "role"
    mailbox = local_cf in {m.casefold() for m in spec.get("mailboxes", ())} or (
        "mailbox_pattern" in spec and re.fullmatch(spec["mailbox_pattern"], local, re.IGNORECASE)
    )
    return "deliverable" if mailbox else "unknown_mailbox"


@pytest.fixture(scope="module")
def domains() -> dict:
    return yaml.safe_load(DEFAULT_WORLD.read_text(encoding="utf-8"))["domains"]


@pytest.fixture(scope="module")
def big():
    return generate_account(5000, seed=11)


def test_same_seed_same_account_and_another_seed_another() -> None:
    first = generate_account(400, seed=7).to_fixture()
    assert generate_account(400, seed=7).to_fixture() == first
    assert generate_account(400, seed=8).to_fixture() != first


def test_mix_is_realistic(big, domains) -> None:
    kinds = Counter(_classify(c.email, domains) for c in big.contacts.values())
    share = {kind: n / len(big.contacts) for kind, n in kinds.items()}
    assert 0.65 <= share["deliverable"] <= 0.80, share
    assert 0.03 <= share["unknown_mailbox"] <= 0.12, share
    for kind in ("catch_all", "disposable", "nxdomain (typo)"):
        assert 0.02 <= share[kind] <= 0.09, (kind, share)
    for kind in ("null_mx", "dns_failure", "greylisted", "blocked", "down", "no_mail_server"):
        assert 0.003 <= share[kind] <= 0.03, (kind, share)
    assert kinds["mailbox_full"] == 2  # carol@acme.com and full.box@yahoo.com, once each
    assert 10 <= kinds["role"] <= 80
    assert {c.email for c in big.contacts.values()} >= {"carol@acme.com", "full.box@yahoo.com"}


def test_small_accounts_still_hold_every_kind(domains) -> None:
    account = generate_account(40, seed=3)
    kinds = {_classify(c.email, domains) for c in account.contacts.values()}
    assert kinds >= {
        "deliverable",
        "unknown_mailbox",
        "catch_all",
        "disposable",
        "nxdomain (typo)",
        "null_mx",
        "nxdomain",
        "dns_failure",
        "greylisted",
        "blocked",
        "down",
        "no_mail_server",
        "mailbox_full",
        "role",
    }


def test_addresses_unique_except_a_few_case_variants(big) -> None:
    emails = [c.email for c in big.contacts.values()]
    assert len(set(emails)) == len(emails)
    folded = Counter(e.casefold() for e in emails)
    pairs = [e for e, n in folded.items() if n > 1]
    assert 5 <= len(pairs) <= 100
    assert all(n == 2 for n in folded.values() if n > 1)


def test_internationalized_addresses_are_present(big) -> None:
    emails = [c.email for c in big.contacts.values()]
    assert any(e.endswith("@bücher.de") and e.isascii() is False for e in emails)
    assert any(not e.split("@")[0].isascii() for e in emails)  # a unicode local part
    assert "jürgen@bücher.de" in emails


def test_ids_increase_with_gaps_and_dates_span_two_years(big) -> None:
    ids = big.sorted_contact_ids
    gaps = sum(1 for a, b in itertools.pairwise(ids) if b - a > 1)
    assert ids == sorted(ids) and ids[0] >= 1
    assert 0.01 * len(ids) <= gaps <= 0.06 * len(ids)
    end = int(AS_OF.timestamp())
    contacts = [big.contacts[i] for i in ids]
    assert all(end - HISTORY_S <= c.cdate <= c.udate <= end for c in contacts)
    assert [c.cdate for c in contacts] == sorted(c.cdate for c in contacts)
    assert sum(c.udate > c.cdate for c in contacts) > len(contacts) / 3


def test_memberships_tags_and_bounces(big) -> None:
    per_contact = Counter(len(big.memberships_of(i)) for i in big.contacts)
    assert set(per_contact) == {0, 1, 2, 3}
    statuses = Counter(m.status for m in big.contact_lists.values())
    total = sum(statuses.values())
    assert statuses[1] / total > 0.75
    assert 0.05 < statuses[2] / total < 0.2
    assert 0.005 < statuses[3] / total < 0.06
    assert {len(big.tags_of(i)) for i in big.contacts} == {0, 1, 2, 3}
    bounced = sum(c.bounced_hard for c in big.contacts.values())
    assert 0.005 * len(big.contacts) < bounced < 0.06 * len(big.contacts)
    assert len(big.lists) == 8 and len(big.tags) == 10


def test_sizes_and_arguments() -> None:
    account = generate_account(0, lists=2, tags=30)
    assert len(account.contacts) == 0 and len(account.lists) == 2 and len(account.tags) == 30
    assert len({t.tag for t in account.tags.values()}) == 30
    bare = generate_account(40, seed=3, lists=0, tags=0)  # `sandbox serve --lists 0` allows it
    assert len(bare.contacts) == 40 and not bare.contact_lists and not bare.contact_tags
    with pytest.raises(ValueError, match="negative"):
        generate_account(-1)
    with pytest.raises(ValueError, match="timezone-aware"):
        generate_account(5, as_of=datetime(2026, 1, 1))
    moved = generate_account(5, as_of=datetime(2020, 1, 1, tzinfo=UTC))
    assert (
        max(c.udate for c in moved.contacts.values())
        <= datetime(2020, 1, 1, tzinfo=UTC).timestamp()
    )

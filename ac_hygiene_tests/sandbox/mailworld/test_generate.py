"""Generated worlds and address samples: the shapes benchmarks rely on, checked end to end."""

from __future__ import annotations

import smtplib
from collections import Counter

import dns.resolver
import email_validator
import pytest

from ac_hygiene.sandbox.mailworld import (
    MailWorld,
    MailWorldServer,
    RunningMailWorld,
    generate_world,
    generate_world_data,
    labelled_sample,
    sample_addresses,
)
from ac_hygiene.sandbox.mailworld.samples import POPULAR_TYPOS, SHARES
from ac_hygiene.sandbox.mailworld.world import default_world_path


@pytest.fixture(scope="module")
def big_world() -> MailWorld:
    return generate_world(500, seed=7)


def test_generation_is_deterministic() -> None:
    assert generate_world_data(60, seed=3) == generate_world_data(60, seed=3)
    assert generate_world_data(60, seed=3) != generate_world_data(60, seed=4)


def test_big_world_has_the_mix_of_the_real_internet(big_world: MailWorld) -> None:
    specs = list(big_world.domains.values())
    assert len(specs) == 500

    def count(predicate) -> int:
        return sum(1 for spec in specs if predicate(spec))

    assert count(lambda s: s.mailbox_pattern is not None) > 50
    assert count(lambda s: len(s.mailboxes) >= 8) > 100
    assert count(lambda s: s.catch_all) >= 30
    assert count(lambda s: s.null_mx) >= 10
    assert count(lambda s: s.nxdomain) >= 15
    assert count(lambda s: s.servfail) >= 3
    assert count(lambda s: s.greylist_seconds) >= 5
    assert count(lambda s: s.block) >= 5
    assert count(lambda s: s.down) >= 5
    assert count(lambda s: s.has_mail_behaviour and not s.mx and s.a) >= 10  # A fallback
    assert count(lambda s: s.full_mailboxes) >= 20
    # Hosting providers: a few hosts carry many domains, as Google and Microsoft do.
    shared = sorted((len(listener.domains) for listener in big_world.listeners), reverse=True)
    assert shared[0] >= 100
    assert sum(1 for size in shared if size >= 10) >= 5
    assert any(listener.max_recipients == 20 for listener in big_world.listeners)
    assert {"gmail.com", "yahoo.com", "mailinator.com"} <= set(big_world.domains)


def test_too_small_worlds_are_refused() -> None:
    with pytest.raises(ValueError, match="at least 20 domains"):
        generate_world(5)
    with pytest.raises(ValueError, match="mailboxes_per_domain must be >= 1"):
        generate_world(50, mailboxes_per_domain=0)


def test_samples_have_the_documented_mix(big_world: MailWorld) -> None:
    sample = labelled_sample(big_world, 2000, seed=1)
    assert len(sample) == 2000
    kinds = Counter(item.kind for item in sample)
    for kind, share in SHARES.items():
        assert kinds[kind] == int(share * 2000), kind
    assert kinds["deliverable"] == 2000 - sum(int(share * 2000) for share in SHARES.values())
    assert sample_addresses(big_world, 2000, seed=1) == [item.email for item in sample]
    assert sample_addresses(big_world, 2000, seed=2) != [item.email for item in sample]


def test_case_duplicates_repeat_another_address_in_other_case(big_world: MailWorld) -> None:
    sample = labelled_sample(big_world, 1000, seed=5)
    originals = Counter(item.email.lower() for item in sample if item.kind != "case_duplicate")
    for item in sample:
        if item.kind == "case_duplicate":
            assert originals[item.email.lower()] >= 1
            assert item.email != item.email.lower()


def test_invalid_syntax_and_typo_samples(big_world: MailWorld) -> None:
    sample = labelled_sample(big_world, 1000, seed=6)
    typos = {typo for options in POPULAR_TYPOS.values() for typo in options}
    for item in sample:
        if item.kind == "invalid_syntax":
            with pytest.raises(email_validator.EmailNotValidError):
                email_validator.validate_email(item.email, check_deliverability=False)
        elif item.kind == "typo":
            domain = item.email.rpartition("@")[2]
            assert domain in typos
            assert big_world.domain(domain) is None


def test_default_world_can_be_sampled() -> None:
    world = MailWorld.load(default_world_path())
    kinds = Counter(item.kind for item in labelled_sample(world, 500, seed=0))
    assert kinds["disposable"] == int(SHARES["disposable"] * 500)
    assert kinds["catch_all"] == int(SHARES["catch_all"] * 500)


def _probe(running: RunningMailWorld, email: str) -> str:
    """What a plain verifier learns about one address: a DNS outcome or the RCPT reply code."""
    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers = [running.dns_host]
    resolver.nameserver_ports = {running.dns_host: running.dns_port}
    domain = email.rpartition("@")[2]
    try:
        mx = sorted(resolver.resolve(domain, "MX"), key=lambda record: record.preference)
        if mx[0].exchange.to_text() == ".":
            return "null_mx"
        target = mx[0].exchange.to_text()
    except dns.resolver.NoAnswer:
        target = domain
    except dns.resolver.NXDOMAIN:
        return "nxdomain"
    except dns.resolver.NoNameservers:
        return "servfail"
    try:
        address = resolver.resolve(target, "A")[0].address
    except dns.resolver.NoAnswer:
        return "no_mail_server"
    try:
        with smtplib.SMTP(address, running.smtp_port, timeout=5) as smtp:
            smtp.ehlo("probe.example")
            smtp.mail("probe@verifier.example", ["SMTPUTF8"])
            return str(smtp.rcpt(email)[0])
    except ConnectionRefusedError:
        return "refused"


EXPECTED_OUTCOMES = {
    "deliverable": {"250"},
    "unknown_mailbox": {"550"},
    "catch_all": {"250"},
    "disposable": {"250"},
    "role": {"250", "550"},
    "dead_domain": {"nxdomain", "null_mx", "servfail", "no_mail_server"},
    # down, blocked, greylisted, rejecting our sender (550/450/553) or rejecting everything
    "unreachable_server": {"450", "550", "553", "554", "refused"},
}


def test_sample_kinds_meet_the_servers_they_promise() -> None:
    world = generate_world(80, seed=11)
    # Each address once: a greylisted address probed again after the delay would be accepted.
    unique = {item.email.lower(): item for item in labelled_sample(world, 300, seed=11)}
    sample = [item for item in unique.values() if item.kind in EXPECTED_OUTCOMES]
    with MailWorldServer(world).run_in_thread() as running:
        outcomes = {item: _probe(running, item.email) for item in sample}
    wrong = {
        (item.email, item.kind, outcome)
        for item, outcome in outcomes.items()
        if outcome not in EXPECTED_OUTCOMES[item.kind]
    }
    assert not wrong
    assert {kind for kind in (item.kind for item in sample)} == set(EXPECTED_OUTCOMES)


def test_distinct_samples_and_their_truth() -> None:
    """A distinct sample holds every mailbox once, and its truth follows the world's rules."""
    from ac_hygiene.sandbox.mailworld.samples import expected_status, mailbox_key

    world = generate_world(80, seed=11)
    sample = labelled_sample(world, 2000, seed=3, distinct=True)
    assert len(sample) == 2000
    assert len({mailbox_key(item.email) for item in sample}) == 2000
    assert not any(item.kind == "case_duplicate" for item in sample)
    truths = Counter((item.kind, item.truth) for item in sample)
    assert truths[("deliverable", "deliverable")] > 1000
    assert truths[("unknown_mailbox", "undeliverable")] == int(SHARES["unknown_mailbox"] * 2000)
    assert truths[("invalid_syntax", "undeliverable")] == int(SHARES["invalid_syntax"] * 2000)
    assert truths[("disposable", "risky")] == int(SHARES["disposable"] * 2000)
    assert {truth for kind, truth in truths if kind == "unreachable_server"} >= {"unknown"}
    kinds = {name: spec for name, spec in world.domains.items()}
    sender = next(name for name, spec in kinds.items() if spec.sender_reject is not None)
    rejects = next(name for name, spec in kinds.items() if spec.rejects_all)
    assert expected_status(world, f"alice.smith@{sender}") == "unknown"
    assert expected_status(world, f"alice.smith@{rejects}") == "unknown"
    assert expected_status(world, "x@not-in-the-world.example") == "undeliverable"
    # Gmail ignores dots: a.b@ and ab@ are one mailbox, so a distinct sample holds one of them.
    assert mailbox_key("A.B+news@GoogleMail.com") == mailbox_key("ab@gmail.com")

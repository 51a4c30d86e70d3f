"""The engine against a generated world, scored against the world's truth (as the benchmark is).

The world has each provider's texts, servers that reject our sender at RCPT and servers that
reject everything; an undeliverable verdict on an address the truth does not call undeliverable
would unsubscribe a customer's contact.
"""

from __future__ import annotations

from collections import Counter

import pytest

from ac_hygiene.sandbox.mailworld import MailWorldServer, generate_world, labelled_sample
from ac_hygiene.verification import BatchStats, averify_emails
from ac_hygiene_tests.verification.support import settings_for


@pytest.mark.slow
async def test_generated_world_verdicts_match_the_truth() -> None:
    world = generate_world(120, seed=21)
    sample = labelled_sample(world, 2500, seed=21, distinct=True)
    emails = [item.email for item in sample]
    stats = BatchStats()
    async with MailWorldServer(world) as running:
        settings = settings_for(
            running, canaries=("gmail.com", "outlook.com", "yahoo.com"), greylist_budget_s=8
        )
        frame = await averify_emails(emails, settings, stats=stats)
    assert stats.dns_reliable is True
    statuses = frame.get_column("status").to_list()
    reasons = frame.get_column("reason").to_list()
    pairs = list(zip(sample, statuses, reasons, strict=True))
    false_undeliverable = [
        (item.email, item.kind, item.truth, reason)
        for item, status, reason in pairs
        if status == "undeliverable" and item.truth != "undeliverable"
    ]
    assert false_undeliverable == []
    misses = Counter(
        (item.kind, item.truth, status) for item, status, _ in pairs if status != item.truth
    )
    accuracy = 1 - sum(misses.values()) / len(sample)
    assert accuracy >= 0.995, misses
    # The evidence rules were exercised, not skipped.
    assert {"sender_rejected", "rejects_all", "mailbox_not_found"} <= set(reasons)
    assert stats.smtp.postmaster_checks > 0

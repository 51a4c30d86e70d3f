"""The guardrails: what they refuse, what they let through, and the override."""

from __future__ import annotations

import pytest

from ac_hygiene.defs.checks import change_share_within_limit, plan_looks_sane
from ac_hygiene.hygiene import CleanPolicy, build_clean_plan
from ac_hygiene.hygiene.guardrails import (
    GuardrailRefusal,
    GuardVerdict,
    change_share_finding,
    guard_findings,
)
from ac_hygiene_tests.hygiene.frames import contacts_frame, verifications_frame


def _plan(**counts):
    pairs = []
    for kind, count in counts.items():
        pairs += [(f"{kind}{i}@domain{i % 40}.com", kind) for i in range(count)]
    verifications = verifications_frame(pairs)
    plan = build_clean_plan(contacts_frame([e for e, _ in pairs]), verifications, CleanPolicy())
    return plan, verifications


def test_a_dirty_list_under_the_limit_passes():
    plan, verifications = _plan(accepted=85, mailbox_not_found=10, disposable=5)
    assert guard_findings(plan, verifications) == ()
    assert change_share_within_limit(plan, 0.2).passed
    assert plan_looks_sane(plan, verifications).passed
    GuardVerdict((), None).enforce()


def test_share_over_the_limit_is_refused_with_what_to_do():
    plan, verifications = _plan(accepted=75, mailbox_not_found=20, disposable=5)
    (finding,) = guard_findings(plan, verifications)
    assert finding.code == "change_share_exceeded" and finding.figures["changes"] == 25
    result = change_share_within_limit(plan, 0.2)
    assert not result.passed
    assert "25 of 100 contacts (25%)" in result.description
    assert "--override-guardrails" in result.description
    with pytest.raises(GuardrailRefusal, match="NOT applied"):
        GuardVerdict((finding,), None).enforce()
    with pytest.raises(GuardrailRefusal):
        GuardVerdict((finding,), "   ").enforce()  # a blank reason is no override
    GuardVerdict((finding,), "first cleaning, reviewed by Ann").enforce()
    assert change_share_finding(plan, 0.3) is None


def test_a_plan_too_small_for_a_share_to_mean_anything_is_not_judged_by_it():
    # four new signups, one invalid: 25%, but one contact; twenty with five invalid: judged
    few, _ = _plan(accepted=3, mailbox_not_found=1)
    assert change_share_finding(few, 0.2) is None
    enough, _ = _plan(accepted=15, mailbox_not_found=5)
    assert change_share_finding(enough, 0.2) is not None


def test_infrastructure_failure_is_refused_even_under_the_share_limit():
    # a resolver that answers NXDOMAIN for everything: most addresses 'no_domain'
    plan, verifications = _plan(accepted=20, no_domain=80)
    codes = {f.code for f in guard_findings(plan, verifications, max_change_share=1.0)}
    assert "invalid_looks_like_infrastructure" in codes
    result = plan_looks_sane(plan, verifications)
    assert not result.passed and "verify again" in result.description


def test_limit_must_be_a_share():
    plan, _ = _plan(accepted=5)
    with pytest.raises(ValueError, match="between 0 and 1"):
        change_share_finding(plan, 1.5)

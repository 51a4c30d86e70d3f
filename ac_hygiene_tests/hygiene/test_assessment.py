from __future__ import annotations

import pytest

from ac_hygiene.hygiene import (
    AssessmentThresholds,
    CleanPolicy,
    SuspectPlanError,
    assess_plan,
    build_clean_plan,
)
from ac_hygiene_tests.hygiene.frames import contacts_frame, verifications_frame


def _assess(pairs, policy=None, thresholds=None, emails=None):
    verifications = verifications_frame(pairs)
    contacts = contacts_frame(emails if emails is not None else [e for e, _ in pairs])
    plan = build_clean_plan(contacts, verifications, policy or CleanPolicy())
    return assess_plan(plan, verifications, thresholds)


def _mix(**counts):
    """Addresses spread over many domains: `kind=count` each."""
    pairs = []
    for kind, count in counts.items():
        pairs += [(f"{kind}{i}@domain{i % 40}.com", kind) for i in range(count)]
    return pairs


def test_a_dirty_list_is_ok():
    assessment = _assess(_mix(accepted=70, mailbox_not_found=20, disposable=5, dns_error=5))
    assert assessment.ok
    assert assessment.figures["unknown_share"] == 0.05
    assert assessment.figures["invalid_share"] == 0.2
    assessment.raise_if_suspect()  # does not raise


def test_mostly_unknown_is_flagged_with_its_top_reasons():
    assessment = _assess(_mix(accepted=30, smtp_unavailable=50, smtp_timeout=20))
    assert not assessment.ok
    assert [f.code for f in assessment.findings] == ["too_many_unknown"]
    finding = assessment.findings[0]
    assert finding.figures["top_reasons"] == {"smtp_unavailable": 50, "smtp_timeout": 20}
    with pytest.raises(SuspectPlanError, match=r"infrastructure failure.*70% of 100"):
        assessment.raise_if_suspect()


def test_exactly_at_the_unknown_limit_is_not_flagged():
    assert _assess(_mix(accepted=50, dns_error=50)).ok


def test_many_invalids_from_a_broken_resolver_are_flagged():
    assessment = _assess(_mix(accepted=50, no_domain=40, mailbox_not_found=10))
    assert [f.code for f in assessment.findings] == ["invalid_looks_like_infrastructure"]
    assert assessment.figures["infrastructure_invalid_share"] == 0.8


def test_many_invalids_for_mailbox_reasons_are_just_a_dirty_list():
    assert _assess(_mix(accepted=50, mailbox_not_found=45, no_domain=5)).ok


def test_a_big_domain_rejecting_every_mailbox_is_flagged():
    pairs = _mix(accepted=200) + [(f"user{i}@bigmail.com", "mailbox_not_found") for i in range(60)]
    assessment = _assess(pairs)
    assert [f.code for f in assessment.findings] == ["domain_failing_uniformly"]
    assert assessment.findings[0].figures == {
        "domain": "bigmail.com",
        "reason": "mailbox_not_found",
        "addresses": 60,
        "failing": 60,
    }


def test_a_big_dead_domain_is_expected_not_suspect():
    pairs = _mix(accepted=200) + [(f"user{i}@gone.biz", "no_domain") for i in range(60)]
    assert _assess(pairs).ok


def test_a_big_domain_that_is_only_kept_is_not_suspect():
    # every address of the domain timed out, but unknowns are kept: nothing would be written
    pairs = _mix(accepted=200) + [(f"u{i}@slow.com", "smtp_timeout") for i in range(60)]
    assert _assess(pairs).ok
    # ... unless the policy acts on unknowns
    flagged = _assess(pairs, CleanPolicy(unknown="unsubscribe"))
    assert [f.code for f in flagged.findings] == ["domain_failing_uniformly"]


def test_small_domains_and_small_plans_are_not_judged():
    pairs = _mix(accepted=200) + [(f"user{i}@small.com", "mailbox_not_found") for i in range(49)]
    assert _assess(pairs).ok
    assert _assess(_mix(dns_error=19)).ok
    assert not _assess(_mix(dns_error=20)).ok


def test_contacts_without_email_do_not_count_as_failures():
    pairs = _mix(accepted=30)
    emails = [e for e, _ in pairs] + [None] * 100
    assessment = _assess(pairs, emails=emails)
    assert assessment.ok
    assert assessment.figures["verified_addresses"] == 30


def test_thresholds_are_configurable():
    pairs = _mix(accepted=70, dns_error=30)
    assert _assess(pairs).ok
    strict = AssessmentThresholds(max_unknown_share=0.25)
    assert [f.code for f in _assess(pairs, thresholds=strict).findings] == ["too_many_unknown"]


@pytest.mark.parametrize(
    "kwargs", [{"max_unknown_share": 1.5}, {"domain_failure_share": -0.1}, {"min_addresses": 0}]
)
def test_thresholds_are_validated(kwargs):
    with pytest.raises(ValueError, match="threshold"):
        AssessmentThresholds(**kwargs)


def test_metadata_lists_findings_and_figures():
    meta = _assess(_mix(dns_error=30)).as_metadata()
    assert meta["ok"] is False
    assert meta["findings"][0]["code"] == "too_many_unknown"
    assert meta["unknown_share"] == 1.0

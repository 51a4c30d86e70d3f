"""The guardrails in front of the apply step: a plan that could hurt an account is refused.

Two rules, both *blocking* (a refused plan is not applied, by hand or automatically):
- the plan assessment (`assessment.assess_plan`): a plan shaped like an infrastructure failure
  (most probes unknown, invalids for DNS reasons, one big domain failing uniformly);
- the change share: Unsubscribe + Delete over `max_change_share` (default 20%) of the segment's
  contacts. A monthly cleaning of a list in use changes a few percent; a fifth of the list means
  a bad import, a broken verifier or a policy set by mistake, and a person should look first.
  Like the plan assessment, it judges plans of at least `min_addresses` (20) contacts: a share of
  a handful means nothing (one invalid among four new signups is 25%), and a broken verifier is
  the plan assessment's and the resolver canaries' to catch.

A person who has looked can apply anyway with an explicit override (a non-empty reason), which
is recorded with the run. A refusal says what fired and how to proceed.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from ac_hygiene.hygiene.assessment import AssessmentThresholds, Finding, assess_plan

DEFAULT_MAX_CHANGE_SHARE = 0.2
OVERRIDE_TAG = "ac_hygiene/override_guardrails"


def change_share_finding(
    plan: pl.DataFrame,
    max_change_share: float = DEFAULT_MAX_CHANGE_SHARE,
    min_contacts: int = AssessmentThresholds().min_addresses,
) -> Finding | None:
    """A finding when Unsubscribe + Delete exceed `max_change_share` of the plan's contacts
    (plans of fewer than `min_contacts` contacts are not judged by share)."""
    if not 0.0 <= max_change_share <= 1.0:
        raise ValueError(f"max_change_share must be between 0 and 1, got {max_change_share}")
    if plan.height == 0 or plan.height < min_contacts:
        return None
    changes = plan.filter(pl.col("action") != "keep").height
    share = changes / plan.height
    if share <= max_change_share:
        return None
    return Finding(
        "change_share_exceeded",
        f"{changes:,} of {plan.height:,} contacts ({share:.0%}) would be unsubscribed or "
        f"deleted, over the {max_change_share:.0%} limit",
        {"changes": changes, "contacts": plan.height, "share": round(share, 4)},
    )


def guard_findings(
    plan: pl.DataFrame,
    verifications: pl.DataFrame,
    *,
    max_change_share: float = DEFAULT_MAX_CHANGE_SHARE,
    thresholds: AssessmentThresholds | None = None,
) -> tuple[Finding, ...]:
    """Everything that stops this plan (empty: it may be applied)."""
    findings = list(assess_plan(plan, verifications, thresholds).findings)
    share = change_share_finding(plan, max_change_share)
    if share is not None:
        findings.append(share)
    return tuple(findings)


class GuardrailRefusal(RuntimeError):
    """The plan is refused; the message says why and what to do."""

    def __init__(self, findings: tuple[Finding, ...]) -> None:
        self.findings = findings
        super().__init__(refusal_message(findings))


def refusal_message(findings: tuple[Finding, ...]) -> str:
    reasons = "; ".join(f"{f.code}: {f.message}" for f in findings)
    return (
        f"the plan was NOT applied: {reasons}. Review the clean plan (counts per category and "
        "reason, the changes preview); if it reflects a verifier or network failure, fix it and "
        "verify again. If it is right, apply with an explicit override: "
        "`ac-hygiene apply ... --override-guardrails 'REASON'`, the run tag "
        f"`{OVERRIDE_TAG}=REASON`, or the asset config `override_guardrails: REASON`."
    )


@dataclass(frozen=True)
class GuardVerdict:
    findings: tuple[Finding, ...]
    override: str | None

    @property
    def allowed(self) -> bool:
        return not self.findings or bool(self.override and self.override.strip())

    def enforce(self) -> None:
        if not self.allowed:
            raise GuardrailRefusal(self.findings)

"""A guard that tells a dirty list from a broken verifier before anything is written back.

A blocked port 25, a resolver that answers NXDOMAIN for everything, or a provider that rejects
every RCPT from our prober all look, row by row, like bad addresses. Applied blindly they would
unsubscribe or delete good contacts by the thousand. Such failures have a shape that a merely
dirty list does not, so the apply step asks this guard first and refuses a suspect plan (a human
can still look at the findings and re-run, or override deliberately).

Rules (every threshold is a field of `AssessmentThresholds`):
- `too_many_unknown`: more than `max_unknown_share` (50%) of the verified addresses came back
  unknown. Unknowns are kept, but a run where most probes failed is unreliable as a whole, so its
  invalids are suspect too.
- `invalid_looks_like_infrastructure`: more than `max_invalid_share` (30%) of the addresses are
  invalid AND more than `infrastructure_share` (50%) of those invalids carry a reason a broken
  resolver or network produces (`infrastructure_reasons`: NXDOMAIN / no mail server / null MX,
  plus the transport failures should they ever be reported as invalid).
- `domain_failing_uniformly`: a domain with at least `domain_min_addresses` (50) addresses where at
  least `domain_failure_share` (95%) of them would be acted on (unsubscribe/delete) for the same
  per-mailbox reason. A provider does not lose all its mailboxes at once; it blocks a prober.
  Domain-level verdicts (`domain_level_reasons`: the domain does not exist, has no mail server,
  is disposable, ...) are excluded: every address of a dead domain failing alike is expected.
- Shares are only judged on at least `min_addresses` (20) verified addresses: on a handful of
  contacts a share says nothing, and the default policy only acts on definite results anyway.
Addresses are counted over contacts that have an email (contacts without one are `no_email`
keeps, not verifier failures).

`assess_batch` applies the same rules to a batch of verifications before any plan exists (the
plan it would give under the connection's policy, one row per distinct address): the pipeline
uses it to keep a suspect batch out of the result cache (`hygiene.cache.uncache_suspect_batch`),
so that the run after the fault is fixed verifies again instead of reusing broken verdicts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import polars as pl

from ac_hygiene.hygiene.plan import NO_EMAIL
from ac_hygiene.hygiene.policy import CleanPolicy, category_expr


@dataclass(frozen=True)
class AssessmentThresholds:
    """Where a plan stops looking like a dirty list (see the module doc for each rule)."""

    min_addresses: int = 20
    max_unknown_share: float = 0.5
    max_invalid_share: float = 0.3
    infrastructure_share: float = 0.5
    infrastructure_reasons: frozenset[str] = frozenset(
        {
            "no_domain",
            "no_mail_server",
            "null_mx",
            "dns_error",
            "smtp_unavailable",
            "smtp_timeout",
            "smtp_error",
            "blocked",
        }
    )
    domain_min_addresses: int = 50
    domain_failure_share: float = 0.95
    domain_level_reasons: frozenset[str] = frozenset(
        {
            "accepted",
            "invalid_syntax",
            "no_domain",
            "null_mx",
            "no_mail_server",
            "disposable",
            "catch_all",
        }
    )

    def __post_init__(self) -> None:
        for name in (
            "max_unknown_share",
            "max_invalid_share",
            "infrastructure_share",
            "domain_failure_share",
        ):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"threshold {name} must be a share between 0 and 1, got {value}")
        for name in ("min_addresses", "domain_min_addresses"):
            if getattr(self, name) < 1:
                raise ValueError(f"threshold {name} must be at least 1")


@dataclass(frozen=True)
class Finding:
    """One reason to distrust a plan: a stable code, a sentence for humans, and its figures."""

    code: str
    message: str
    figures: dict[str, Any] = field(default_factory=dict)


class SuspectPlanError(RuntimeError):
    """Raised by `PlanAssessment.raise_if_suspect` so the apply step refuses the plan."""

    def __init__(self, findings: tuple[Finding, ...]) -> None:
        self.findings = findings
        lines = "; ".join(f.message for f in findings)
        super().__init__(
            f"the clean plan looks like an infrastructure failure, not a dirty list: {lines}. "
            "Check the verifier's network (port 25, DNS) and re-run the verification."
        )


@dataclass(frozen=True)
class PlanAssessment:
    """The guard's verdict on a plan: `ok` unless at least one rule fired."""

    findings: tuple[Finding, ...]
    figures: dict[str, Any]

    @property
    def ok(self) -> bool:
        return not self.findings

    def raise_if_suspect(self) -> None:
        if self.findings:
            raise SuspectPlanError(self.findings)

    def as_metadata(self) -> dict[str, Any]:
        """Plain data for run metadata and logs."""
        return {
            "ok": self.ok,
            "findings": [
                {"code": f.code, "message": f.message, **f.figures} for f in self.findings
            ],
            **self.figures,
        }


def _share(part: int, whole: int) -> float:
    return part / whole if whole else 0.0


def _top_reasons(frame: pl.DataFrame, limit: int = 3) -> dict[str, int]:
    counts = frame.group_by("reason").len().sort(["len", "reason"], descending=[True, False])
    return dict(counts.head(limit).iter_rows())


def assess_plan(
    plan: pl.DataFrame,
    verifications: pl.DataFrame,
    thresholds: AssessmentThresholds | None = None,
) -> PlanAssessment:
    """Judge a clean plan (schema `CleanPlan`) against the verifications it was built from."""
    limits = thresholds or AssessmentThresholds()
    findings: list[Finding] = []

    verified = verifications.filter(
        pl.col("email").is_not_null() & (pl.col("email").str.strip_chars() != "")
    ).unique(subset="email", keep="first")
    unknown = verified.filter(pl.col("status") == "unknown")
    addressed = plan.filter(pl.col("reason") != NO_EMAIL)
    invalid = addressed.filter(pl.col("category") == "invalid")
    infra_invalid = invalid.filter(pl.col("reason").is_in(sorted(limits.infrastructure_reasons)))

    unknown_share = _share(unknown.height, verified.height)
    invalid_share = _share(invalid.height, addressed.height)
    infra_share = _share(infra_invalid.height, invalid.height)
    figures: dict[str, Any] = {
        "verified_addresses": verified.height,
        "unknown_share": round(unknown_share, 4),
        "invalid_share": round(invalid_share, 4),
        "infrastructure_invalid_share": round(infra_share, 4),
    }

    if verified.height >= limits.min_addresses and unknown_share > limits.max_unknown_share:
        findings.append(
            Finding(
                "too_many_unknown",
                f"{unknown_share:.0%} of {verified.height} addresses are unknown "
                f"(limit {limits.max_unknown_share:.0%}); top reasons "
                f"{_top_reasons(unknown)}",
                {"unknown": unknown.height, "top_reasons": _top_reasons(unknown)},
            )
        )
    if addressed.height >= limits.min_addresses and (
        invalid_share > limits.max_invalid_share and infra_share > limits.infrastructure_share
    ):
        findings.append(
            Finding(
                "invalid_looks_like_infrastructure",
                f"{invalid_share:.0%} of addresses are invalid (limit "
                f"{limits.max_invalid_share:.0%}) and "
                f"{infra_share:.0%} of those for DNS/network reasons "
                f"{_top_reasons(infra_invalid)}",
                {"invalid": invalid.height, "top_reasons": _top_reasons(infra_invalid)},
            )
        )
    findings.extend(_uniform_domain_failures(addressed, limits))
    return PlanAssessment(findings=tuple(findings), figures=figures)


def assess_batch(
    verifications: pl.DataFrame,
    policy: CleanPolicy | None = None,
    thresholds: AssessmentThresholds | None = None,
) -> PlanAssessment:
    """Judge a batch of verifications (schema `Verifications`) as the plan guard would judge
    the plan built from it under `policy` (the recommended defaults if None).

    The plan of a batch is one row per distinct non-blank address with its category, the
    policy's action and the verification's reason: exactly what `assess_plan` reads. Contacts
    sharing an address count once, as they do in the guard's address figures.
    """
    chosen = policy or CleanPolicy()
    rows = verifications.filter(
        pl.col("email").is_not_null() & (pl.col("email").str.strip_chars() != "")
    ).unique(subset="email", keep="first", maintain_order=True)
    plan = rows.select(pl.col("email"), category_expr(), pl.col("reason")).with_columns(
        chosen.action_expr(pl.col("category")).alias("action")
    )
    return assess_plan(plan, verifications, thresholds)


def _uniform_domain_failures(plan: pl.DataFrame, limits: AssessmentThresholds) -> list[Finding]:
    """Big domains where nearly every address would be acted on for one per-mailbox reason."""
    per_domain = plan.with_columns(
        pl.col("email").str.strip_chars().str.to_lowercase().str.split("@").list.last().alias("d")
    )
    sizes = per_domain.group_by("d").len("addresses")
    acted = (
        per_domain.filter(
            (pl.col("action") != "keep")
            & ~pl.col("reason").is_in(sorted(limits.domain_level_reasons))
        )
        .group_by("d", "reason")
        .len("failing")
    )
    suspects = (
        acted.join(sizes, on="d")
        .filter(
            (pl.col("addresses") >= limits.domain_min_addresses)
            & (pl.col("failing") >= pl.col("addresses") * limits.domain_failure_share)
        )
        .sort("d")
    )
    return [
        Finding(
            "domain_failing_uniformly",
            f"{failing} of {addresses} addresses at {domain} would be acted on for the same "
            f"reason {reason!r}",
            {"domain": domain, "reason": reason, "addresses": addresses, "failing": failing},
        )
        for domain, reason, failing, addresses in suspects.select(
            "d", "reason", "failing", "addresses"
        ).iter_rows()
    ]

"""The hygiene layer: clean policy, clean plan and its guard, credits ledger, verification cache.

Plain library code (no Dagster): the Dagster assets in `ac_hygiene.defs` call these.
"""

from ac_hygiene.hygiene.assessment import (
    AssessmentThresholds,
    Finding,
    PlanAssessment,
    SuspectPlanError,
    assess_plan,
)
from ac_hygiene.hygiene.balance import AccountState, InsufficientCredits
from ac_hygiene.hygiene.cache import SqlResultCache
from ac_hygiene.hygiene.db import LedgerDatabaseError, default_ledger_url, mask_url
from ac_hygiene.hygiene.ledger import (
    ChargeSummary,
    CreditLedger,
    Estimate,
    billing_key_expr,
    normalize_month,
)
from ac_hygiene.hygiene.plan import NO_EMAIL, NOT_VERIFIED, build_clean_plan, plan_summary
from ac_hygiene.hygiene.policy import (
    ACTIONS,
    CATEGORIES,
    DELETABLE_CATEGORIES,
    CleanPolicy,
    PolicyError,
    categorize,
    category_expr,
)
from ac_hygiene.hygiene.reservations import Reservation, Settlement

__all__ = [
    "ACTIONS",
    "CATEGORIES",
    "DELETABLE_CATEGORIES",
    "NOT_VERIFIED",
    "NO_EMAIL",
    "AccountState",
    "AssessmentThresholds",
    "ChargeSummary",
    "CleanPolicy",
    "CreditLedger",
    "Estimate",
    "Finding",
    "InsufficientCredits",
    "LedgerDatabaseError",
    "PlanAssessment",
    "PolicyError",
    "Reservation",
    "Settlement",
    "SqlResultCache",
    "SuspectPlanError",
    "assess_plan",
    "billing_key_expr",
    "build_clean_plan",
    "categorize",
    "category_expr",
    "default_ledger_url",
    "mask_url",
    "normalize_month",
    "plan_summary",
]

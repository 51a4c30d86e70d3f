"""The clean policy: what to do with a contact, per category of its verification result.

The product lets the user choose Keep, Unsubscribe or Delete per result category, with recommended
defaults (invalid → Unsubscribe, disposable → Delete, everything else → Keep). Delete cannot be
undone inside ActiveCampaign (the contact loses its tags, custom fields and automation history), so
this module refuses it for every category that is not a definite verdict on the address: only
`invalid` and `disposable` may be deleted, and `valid` can only be kept.

`categorize` turns verification rows into those categories. Precedence, most specific first:

1. status `unknown` → `unknown`, whatever the flags say. An unknown result is no verdict, and the
   plan must never act irreversibly on it (even a disposable-list hit with a DNS failure stays
   unknown; the next monthly run will decide).
2. status `undeliverable` → `invalid`. A disposable address that does not exist is simply invalid:
   the milder Unsubscribe (the default for invalid) is the right action for a dead address.
3. status `deliverable` or `risky` with the disposable flag (or reason `disposable`) →
   `disposable`. Disposable wins over every other flag: an address on a throwaway domain is
   throwaway whether or not its server accepts mail, and whether or not it is also catch-all.
4. then the catch-all flag (or reason `catch_all`) → `catch_all`: acceptance by an accept-all server
   says nothing about the mailbox.
5. then the role flag (or reason `role_account`) → `risky`, and any other `risky` status (full
   mailbox, ...) → `risky`. A role flag on a `deliverable` row is still `risky`, so that a user who
   chooses to unsubscribe role accounts gets all of them, as the field's services (Kickbox et al.)
   put role addresses under risky.
6. `deliverable` → `valid`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Final, Literal

import polars as pl

from ac_hygiene.schemas import PLAN_ACTIONS, PLAN_CATEGORIES

Category = Literal["valid", "invalid", "disposable", "catch_all", "unknown", "risky"]
Action = Literal["keep", "unsubscribe", "delete"]

CATEGORIES: Final[tuple[str, ...]] = PLAN_CATEGORIES
ACTIONS: Final[tuple[str, ...]] = PLAN_ACTIONS

#: Categories whose verdict is definite enough to allow the irreversible Delete.
DELETABLE_CATEGORIES: Final[frozenset[str]] = frozenset({"invalid", "disposable"})


class PolicyError(ValueError):
    """A clean policy that names an unknown category/action or asks for an unsafe action."""


def _check_action(category: str, action: object) -> None:
    """Reject an action for a category with a message that says what to write instead."""
    if not isinstance(action, str) or action not in ACTIONS:
        raise PolicyError(
            f"unknown action {action!r} for category {category!r}: "
            f"choose one of {', '.join(ACTIONS)}"
        )
    if category == "valid" and action != "keep":
        raise PolicyError(
            f"category 'valid' can only be 'keep' (got {action!r}): a deliverable address is "
            "never cleaned"
        )
    if action == "delete" and category not in DELETABLE_CATEGORIES:
        raise PolicyError(
            f"'delete' is refused for category {category!r}: Delete cannot be undone inside "
            "ActiveCampaign and this result is not a definite verdict on the address. Use "
            "'unsubscribe' (reversible) or 'keep'; delete is allowed only for "
            f"{', '.join(sorted(DELETABLE_CATEGORIES))}"
        )


@dataclass(frozen=True)
class CleanPolicy:
    """One action per category; the defaults are the product's recommended ones.

    Constructing a policy validates it, so an unsafe policy cannot exist at all (rather than being
    caught later, when the apply step is already running).
    """

    valid: Action = "keep"
    invalid: Action = "unsubscribe"
    disposable: Action = "delete"
    catch_all: Action = "keep"
    unknown: Action = "keep"
    risky: Action = "keep"

    def __post_init__(self) -> None:
        for category in CATEGORIES:
            _check_action(category, getattr(self, category))

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, str]) -> CleanPolicy:
        """A policy from user configuration; categories left out keep their recommended default.

        Keys and values are matched case-insensitively and `catch-all` is accepted for
        `catch_all`, because that is how the product's dashboard spells it.
        """
        if not isinstance(mapping, Mapping):
            raise PolicyError(
                f"a clean policy is a mapping of category to action, got {type(mapping).__name__}"
            )
        actions: dict[str, str] = {}
        for raw_category, raw_action in mapping.items():
            category = str(raw_category).strip().lower().replace("-", "_")
            if category not in CATEGORIES:
                raise PolicyError(
                    f"unknown category {raw_category!r} in clean policy: "
                    f"choose among {', '.join(CATEGORIES)}"
                )
            action = raw_action.strip().lower() if isinstance(raw_action, str) else raw_action
            _check_action(category, action)
            actions[category] = action
        return cls(**actions)

    def as_dict(self) -> dict[str, str]:
        """The policy as plain data (for run metadata and configuration round trips)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def action_for(self, category: str) -> str:
        """The action for one category."""
        if category not in CATEGORIES:
            raise PolicyError(
                f"unknown category {category!r}: choose among {', '.join(CATEGORIES)}"
            )
        return getattr(self, category)

    def action_expr(self, category: pl.Expr) -> pl.Expr:
        """A Polars expression mapping a category column to this policy's action column."""
        return category.replace_strict(self.as_dict(), default="keep", return_dtype=pl.String)


_REQUIRED = ("status", "reason", "is_disposable", "is_catch_all", "is_role")


def category_expr() -> pl.Expr:
    """The category of each verification row as one vectorized expression (see module doc)."""
    status = pl.col("status")
    reason = pl.col("reason")
    disposable = pl.col("is_disposable").fill_null(False) | (reason == "disposable")
    catch_all = pl.col("is_catch_all").fill_null(False) | (reason == "catch_all")
    role = pl.col("is_role").fill_null(False) | (reason == "role_account")
    definite_ok = status.is_in(["deliverable", "risky"])
    return (
        pl.when(status == "undeliverable")
        .then(pl.lit("invalid"))
        .when(definite_ok & disposable)
        .then(pl.lit("disposable"))
        .when(definite_ok & catch_all)
        .then(pl.lit("catch_all"))
        .when(definite_ok & (role | (status == "risky")))
        .then(pl.lit("risky"))
        .when(status == "deliverable")
        .then(pl.lit("valid"))
        # unknown, null or anything unexpected: no verdict, so nothing irreversible can follow.
        .otherwise(pl.lit("unknown"))
        .alias("category")
    )


def categorize(verifications: pl.DataFrame) -> pl.Series:
    """The category of every verification row, in row order (a String series named `category`)."""
    missing = [c for c in _REQUIRED if c not in verifications.columns]
    if missing:
        raise ValueError(
            f"verifications frame lacks column(s) {', '.join(missing)}: pass the verification "
            "engine's output (schema ac_hygiene.schemas.Verifications)"
        )
    return verifications.select(category_expr()).to_series()

from __future__ import annotations

import dataclasses

import polars as pl
import pytest

from ac_hygiene.hygiene import CleanPolicy, PolicyError, categorize
from ac_hygiene.schemas import PLAN_CATEGORIES
from ac_hygiene_tests.hygiene.frames import EXPECTED_CATEGORY, RESULTS, verifications_frame


def test_defaults_are_the_products_recommended_actions():
    assert CleanPolicy().as_dict() == {
        "valid": "keep",
        "invalid": "unsubscribe",
        "disposable": "delete",
        "catch_all": "keep",
        "unknown": "keep",
        "risky": "keep",
    }


def test_from_mapping_overrides_only_named_categories():
    policy = CleanPolicy.from_mapping({"Catch-All": "Unsubscribe", "invalid": " delete "})
    assert policy.catch_all == "unsubscribe"
    assert policy.invalid == "delete"
    assert policy.disposable == "delete"
    assert policy.unknown == "keep"


def test_from_mapping_round_trips_as_dict():
    policy = CleanPolicy(invalid="delete", risky="unsubscribe")
    assert CleanPolicy.from_mapping(policy.as_dict()) == policy


def test_unknown_category_is_named_in_the_error():
    with pytest.raises(PolicyError, match=r"unknown category 'spamtrap'.*catch_all"):
        CleanPolicy.from_mapping({"spamtrap": "delete"})


@pytest.mark.parametrize("action", ["remove", "", None, 3])
def test_unknown_action_lists_the_choices(action):
    with pytest.raises(PolicyError, match=r"unknown action .*keep, unsubscribe, delete"):
        CleanPolicy.from_mapping({"invalid": action})


def test_mapping_must_be_a_mapping():
    with pytest.raises(PolicyError, match="mapping of category to action"):
        CleanPolicy.from_mapping([("invalid", "keep")])  # type: ignore[arg-type]


@pytest.mark.parametrize("category", ["unknown", "catch_all", "risky"])
def test_delete_is_refused_for_uncertain_categories(category):
    with pytest.raises(PolicyError, match=f"refused for category '{category}'.*cannot be undone"):
        CleanPolicy.from_mapping({category: "delete"})


def test_delete_is_refused_in_the_constructor_too():
    with pytest.raises(PolicyError, match="refused for category 'unknown'"):
        CleanPolicy(unknown="delete")


@pytest.mark.parametrize("action", ["unsubscribe", "delete"])
def test_valid_can_only_be_kept(action):
    with pytest.raises(PolicyError, match="'valid' can only be 'keep'"):
        CleanPolicy(valid=action)


@pytest.mark.parametrize("category", ["unknown", "catch_all", "risky"])
def test_uncertain_categories_may_be_unsubscribed(category):
    assert CleanPolicy.from_mapping({category: "unsubscribe"}).action_for(category) == "unsubscribe"


def test_policy_is_frozen():
    policy = CleanPolicy()
    with pytest.raises(dataclasses.FrozenInstanceError):
        policy.unknown = "delete"  # type: ignore[misc]


def test_every_engine_result_has_an_expected_category():
    assert set(EXPECTED_CATEGORY) == set(RESULTS)


@pytest.mark.parametrize(("kind", "category"), sorted(EXPECTED_CATEGORY.items()))
def test_categorize_every_status_and_reason(kind, category):
    frame = verifications_frame([(f"{kind}@example.com", kind)])
    assert categorize(frame).to_list() == [category]


@pytest.mark.parametrize(
    ("kind", "flags", "category"),
    [
        # disposable wins over catch-all and role when the address is not undeliverable
        ("catch_all", {"is_disposable": True}, "disposable"),
        ("role_account", {"is_disposable": True}, "disposable"),
        ("accepted", {"is_disposable": True}, "disposable"),
        # ... but a dead disposable address is simply invalid (unsubscribe, the milder action)
        ("mailbox_not_found", {"is_disposable": True}, "invalid"),
        ("no_domain", {"is_disposable": True, "is_catch_all": True}, "invalid"),
        # an unknown result is no verdict, whatever the flags
        ("dns_error", {"is_disposable": True}, "unknown"),
        ("smtp_timeout", {"is_catch_all": True, "is_role": True}, "unknown"),
        # catch-all wins over role; a role flag makes a deliverable row risky
        ("role_account", {"is_catch_all": True}, "catch_all"),
        ("accepted", {"is_role": True}, "risky"),
        ("accepted", {"is_free": True}, "valid"),
    ],
)
def test_flag_precedence(kind, flags, category):
    frame = verifications_frame([("x@example.com", kind)], **flags)
    assert categorize(frame).to_list() == [category]


def test_categorize_keeps_row_order_and_handles_empty_frames():
    kinds = ["dns_error", "accepted", "disposable", "mailbox_not_found"]
    frame = verifications_frame([(f"{i}@d.com", k) for i, k in enumerate(kinds)])
    assert categorize(frame).to_list() == ["unknown", "valid", "disposable", "invalid"]
    empty = categorize(verifications_frame([]))
    assert empty.len() == 0
    assert empty.dtype == pl.String


def test_categories_are_exactly_the_plan_schemas():
    assert set(EXPECTED_CATEGORY.values()) == set(PLAN_CATEGORIES)


def test_categorize_names_missing_columns():
    with pytest.raises(ValueError, match=r"lacks column.*is_catch_all"):
        categorize(pl.DataFrame({"status": ["risky"], "reason": ["x"], "is_disposable": [False]}))

from __future__ import annotations

import polars as pl
import pytest

from ac_hygiene.hygiene import CleanPolicy, build_clean_plan, plan_summary
from ac_hygiene.schemas import CleanPlan, Contacts, Verifications, empty_frame
from ac_hygiene_tests.hygiene.frames import (
    EXPECTED_CATEGORY,
    RESULTS,
    contacts_frame,
    verifications_frame,
)


def _plan(contacts, verifications, policy=None, **kwargs):
    return build_clean_plan(contacts, verifications, policy or CleanPolicy(), **kwargs)


def test_realistic_plan_with_default_policy():
    pairs = [
        ("alice@acme.com", "accepted"),
        ("nobody@acme.com", "mailbox_not_found"),
        ("x@mailinator.com", "disposable"),
        ("anyone@catchall.io", "catch_all"),
        ("erin@grey.net", "greylisted"),
        ("info@acme.com", "role_account"),
        ("carol@acme.com", "mailbox_full"),
        ("who@gone.biz", "no_domain"),
    ]
    contacts = contacts_frame(
        [e for e, _ in pairs], active_list_ids=[[3, 1], [2, 1, 2], [1], [1], [], [4], [1], [5, 6]]
    )
    plan = _plan(contacts, verifications_frame(pairs))
    CleanPlan.validate(plan)
    assert plan.select("contact_id", "category", "action", "list_ids", "reason").rows() == [
        (1, "valid", "keep", [], "accepted"),
        (2, "invalid", "unsubscribe", [1, 2], "mailbox_not_found"),
        (3, "disposable", "delete", [], "disposable"),
        (4, "catch_all", "keep", [], "catch_all"),
        (5, "unknown", "keep", [], "greylisted"),
        (6, "risky", "keep", [], "role_account"),
        (7, "risky", "keep", [], "mailbox_full"),
        (8, "invalid", "unsubscribe", [5, 6], "no_domain"),
    ]
    assert plan["email"].to_list() == [e for e, _ in pairs]


def test_join_is_on_the_email_not_the_row_position():
    contacts = contacts_frame(["a@d.com", "b@d.com"])
    verifications = verifications_frame([("b@d.com", "mailbox_not_found"), ("a@d.com", "accepted")])
    plan = _plan(contacts, verifications)
    assert plan.select("email", "category").rows() == [("a@d.com", "valid"), ("b@d.com", "invalid")]


def test_emails_are_matched_as_given_including_case_and_spaces():
    contacts = contacts_frame([" Bob@D.com", "bob@d.com"])
    verifications = verifications_frame([(" Bob@D.com", "accepted"), ("bob@d.com", "accepted")])
    assert _plan(contacts, verifications)["category"].to_list() == ["valid", "valid"]


def test_null_empty_and_blank_emails_are_kept_as_no_email():
    contacts = contacts_frame([None, "", "   ", "ok@d.com"])
    # the engine answers invalid_syntax for empty input; the plan must still not act on it
    verifications = verifications_frame(
        [
            (None, "invalid_syntax"),
            ("", "invalid_syntax"),
            ("   ", "invalid_syntax"),
            ("ok@d.com", "accepted"),
        ]
    )
    plan = _plan(contacts, verifications, CleanPolicy(invalid="delete"))
    assert plan.select("category", "action", "reason").rows() == [
        ("unknown", "keep", "no_email"),
        ("unknown", "keep", "no_email"),
        ("unknown", "keep", "no_email"),
        ("valid", "keep", "accepted"),
    ]


def test_contact_without_verification_row_is_kept_as_not_verified():
    contacts = contacts_frame(["a@d.com", "missing@d.com"])
    plan = _plan(contacts, verifications_frame([("a@d.com", "mailbox_not_found")]))
    assert plan.select("category", "action", "reason").rows() == [
        ("invalid", "unsubscribe", "mailbox_not_found"),
        ("unknown", "keep", "not_verified"),
    ]


def test_two_contacts_sharing_an_address_get_one_row_each():
    contacts = contacts_frame(["dup@d.com", "dup@d.com", "solo@d.com"])
    # the engine returns one row per input, so the shared address appears twice
    verifications = verifications_frame(
        [
            ("dup@d.com", "mailbox_not_found"),
            ("dup@d.com", "mailbox_not_found"),
            ("solo@d.com", "accepted"),
        ]
    )
    plan = _plan(contacts, verifications)
    assert plan.height == 3
    assert plan["contact_id"].to_list() == [1, 2, 3]
    assert plan["category"].to_list() == ["invalid", "invalid", "valid"]


def test_empty_inputs_give_an_empty_valid_plan():
    plan = _plan(empty_frame(Contacts), empty_frame(Verifications))
    assert plan.height == 0
    assert plan.schema == empty_frame(CleanPlan).schema
    assert plan_summary(plan)["by_action"] == {"keep": 0, "unsubscribe": 0, "delete": 0}


def test_no_verifications_at_all_keeps_everyone():
    plan = _plan(contacts_frame(["a@d.com", "b@d.com"]), empty_frame(Verifications))
    assert plan["action"].to_list() == ["keep", "keep"]
    assert plan["reason"].to_list() == ["not_verified", "not_verified"]


def test_list_segment_touches_only_the_segments_lists():
    contacts = contacts_frame(
        ["a@d.com", "b@d.com", "c@d.com"], active_list_ids=[[1, 2, 3], [2], [4]]
    )
    verifications = verifications_frame([(e, "mailbox_not_found") for e in contacts["email"]])
    everywhere = _plan(contacts, verifications)
    assert everywhere["list_ids"].to_list() == [[1, 2, 3], [2], [4]]
    segment = _plan(contacts, verifications, segment_list_ids=[2])
    assert segment["list_ids"].to_list() == [[2], [2], []]
    # an unsubscribe with nothing in scope stays planned (the apply step records it as skipped)
    assert segment["action"].to_list() == ["unsubscribe"] * 3


def test_keep_and_delete_rows_touch_no_list():
    contacts = contacts_frame(["a@d.com", "b@d.com"], active_list_ids=[[1], [1]])
    verifications = verifications_frame([("a@d.com", "accepted"), ("b@d.com", "disposable")])
    plan = _plan(contacts, verifications)
    assert plan.select("action", "list_ids").rows() == [("keep", []), ("delete", [])]


def test_custom_policy_is_applied_per_category():
    kinds = ["catch_all", "greylisted", "mailbox_full", "mailbox_not_found", "disposable"]
    contacts = contacts_frame([f"{k}@d.com" for k in kinds])
    policy = CleanPolicy(
        catch_all="unsubscribe",
        unknown="unsubscribe",
        risky="unsubscribe",
        invalid="delete",
        disposable="unsubscribe",
    )
    plan = _plan(contacts, verifications_frame([(f"{k}@d.com", k) for k in kinds]), policy)
    assert plan["action"].to_list() == [
        "unsubscribe",
        "unsubscribe",
        "unsubscribe",
        "delete",
        "unsubscribe",
    ]


def test_no_delete_is_ever_planned_on_an_uncertain_result():
    kinds = sorted(RESULTS)
    contacts = contacts_frame([f"{k}@d.com" for k in kinds] + [None])
    verifications = verifications_frame([(f"{k}@d.com", k) for k in kinds] + [(None, "skipped")])
    most_aggressive = CleanPolicy(
        invalid="delete",
        disposable="delete",
        catch_all="unsubscribe",
        unknown="unsubscribe",
        risky="unsubscribe",
    )
    plan = _plan(contacts, verifications, most_aggressive)
    deleted = plan.filter(pl.col("action") == "delete")
    statuses = dict(zip(verifications["email"], verifications["status"], strict=True))
    assert deleted.height > 0
    assert {statuses[e] for e in deleted["email"]} <= {"undeliverable", "risky"}
    assert set(deleted["category"]) <= {"invalid", "disposable"}


def test_missing_columns_and_duplicate_ids_are_clear_errors():
    contacts = contacts_frame(["a@d.com"])
    with pytest.raises(ValueError, match=r"contacts frame lacks column\(s\) active_list_ids"):
        _plan(contacts.drop("active_list_ids"), verifications_frame([]))
    with pytest.raises(ValueError, match=r"verifications frame lacks column\(s\) status"):
        _plan(contacts, verifications_frame([]).drop("status"))
    twice = pl.concat([contacts, contacts])
    with pytest.raises(ValueError, match="duplicate contact_id"):
        _plan(twice, verifications_frame([]))


def test_summary_counts_categories_and_actions():
    kinds = ["accepted", "accepted", "mailbox_not_found", "disposable", "dns_error"]
    emails = [f"{i}@d.com" for i in range(len(kinds))]
    contacts = contacts_frame(emails, active_list_ids=[[1]] * 4 + [[1, 2]])
    plan = _plan(contacts, verifications_frame(list(zip(emails, kinds, strict=True))))
    assert plan_summary(plan) == {
        "contacts": 5,
        "by_category": {
            "valid": 2,
            "invalid": 1,
            "disposable": 1,
            "catch_all": 0,
            "unknown": 1,
            "risky": 0,
        },
        "by_action": {"keep": 3, "unsubscribe": 1, "delete": 1},
        "list_unsubscriptions": 1,
    }


def test_hundred_thousand_contacts_in_one_vectorized_pass():
    n = 100_000
    kinds = sorted(RESULTS)
    one_each = verifications_frame([(f"{k}@d.com", k) for k in kinds])
    kind_index = pl.int_range(n, eager=True) % len(kinds)
    emails = pl.format("user{}@domain{}.com", pl.int_range(n), pl.int_range(n) % 997)
    verifications = (
        one_each.select(pl.exclude("email"))
        .select(pl.all().gather(kind_index))
        .with_columns(pl.select(emails.alias("email")).to_series())
        .select(one_each.columns)
    )
    contacts = contacts_frame(verifications["email"], active_list_ids=[[1, 9]] * n)
    plan = _plan(contacts, verifications)
    assert plan.height == n
    per_kind = {k: (n - i + len(kinds) - 1) // len(kinds) for i, k in enumerate(kinds)}
    expected_actions = {"keep": 0, "unsubscribe": 0, "delete": 0}
    for kind, count in per_kind.items():
        expected_actions[CleanPolicy().action_for(EXPECTED_CATEGORY[kind])] += count
    summary = plan_summary(plan)
    assert summary["by_action"] == expected_actions
    assert summary["list_unsubscriptions"] == 2 * expected_actions["unsubscribe"]
    assert plan["reason"].to_list()[: len(kinds)] == [RESULTS[k]["reason"] for k in kinds]

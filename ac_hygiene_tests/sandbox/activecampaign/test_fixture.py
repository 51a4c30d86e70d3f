"""Account fixtures: the example file loads, any account round-trips, bad files say where."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ac_hygiene.sandbox.activecampaign import (
    FixtureError,
    SandboxAccount,
    generate_account,
    load_account,
    save_account,
)
from ac_hygiene_tests.sandbox.activecampaign.conftest import SMALL


def test_small_fixture_loads_with_its_gaps_case_pair_and_exclusion(
    small_account: SandboxAccount,
) -> None:
    account = small_account
    assert sorted(account.contacts) == [1, 2, 4, 5, 6, 8, 9, 10, 11, 12, 13, 14]
    assert account.next_ids["contact"] == 16
    assert [c.id for c in account.find_by_email("alice.smith@gmail.com")] == [1, 14]
    assert account.is_excluded("Do-Not-Import@acme.com")
    assert account.membership(2, 1).status == 2
    assert account.contacts[4].bounced_hard


def test_small_fixture_round_trips() -> None:
    written = json.loads(SMALL.read_text(encoding="utf-8"))
    dumped = load_account(SMALL).to_fixture()
    assert SandboxAccount.from_fixture(dumped).to_fixture() == dumped
    # The hand-written file leaves out empty arrays; everything it says survives the round trip.
    for mine, theirs in zip(written["contacts"], dumped["contacts"], strict=True):
        assert {k: v for k, v in theirs.items() if k in mine} == mine
    assert {k: v for k, v in dumped.items() if k != "contacts"} == {
        k: v for k, v in written.items() if k != "contacts"
    }


def test_generated_account_round_trips_through_a_file(tmp_path: Path) -> None:
    account = generate_account(300, seed=5)
    account.delete_contact(account.sorted_contact_ids[-1])  # a gap at the end must survive
    path = tmp_path / "account.json"
    save_account(account, path)
    again = load_account(path)
    assert again.to_fixture() == account.to_fixture()
    assert again.next_ids == account.next_ids


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d["contacts"][0].update(emial="x"), r"contacts\[0\]: unknown key\(s\) emial"),
        (lambda d: d["contacts"][1]["lists"][0].update(list=9), r"contacts\[1\]\.lists\[0\]"),
        (
            lambda d: d["contacts"][0].update(cdate="last tuesday"),
            r"contacts\[0\]\.cdate: not a date",
        ),
        (lambda d: d["contacts"][0].update(id="1"), r"contacts\[0\]\.id: expected int"),
        (lambda d: d["contacts"][1].update(email="alice.smith@gmail.com"), "already exists"),
        (lambda d: d["account"].update(timezone="Mars/Olympus"), "unknown time zone"),
        (lambda d: d.update(format="v0"), "unsupported 'v0'"),
    ],
)
def test_bad_fixture_errors_name_the_place(mutate, message: str, tmp_path: Path) -> None:
    data = json.loads(SMALL.read_text(encoding="utf-8"))
    mutate(data)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(FixtureError, match=message) as caught:
        load_account(path)
    assert str(path) in str(caught.value)


def test_missing_and_non_json_files_are_reported(tmp_path: Path) -> None:
    with pytest.raises(FixtureError, match="not found"):
        load_account(tmp_path / "absent.json")
    broken = tmp_path / "broken.json"
    broken.write_text("{", encoding="utf-8")
    with pytest.raises(FixtureError, match="not valid JSON"):
        load_account(broken)


def test_minimal_hand_written_fixture_uses_defaults() -> None:
    account = SandboxAccount.from_fixture(
        {
            "lists": [{"id": 3, "name": "VIP"}],
            "contacts": [
                {"id": 7, "email": "dan@aonly.net", "cdate": "2025-03-01", "lists": [{"list": 3}]}
            ],
        }
    )
    membership = account.membership(7, 3)
    assert membership is not None and membership.status == 1
    # A bare date is midnight in the account's zone (America/Chicago: UTC-6 in March).
    assert account.contacts[7].cdate == 1_740_808_800
    assert account.next_ids["contact"] == 8

"""The address book: what a window's change means, on both databases the ledger supports."""

from __future__ import annotations

from datetime import timedelta

import polars as pl

from ac_hygiene.hygiene.address_book import (
    ALREADY_VERIFIED,
    EMAIL_CHANGED,
    NEW,
    NO_EMAIL,
    NOT_VERIFIED_THIS_MONTH,
    SAME_ADDRESS,
    AddressBook,
    classify_changes,
)
from ac_hygiene.hygiene.ledger import CreditLedger
from ac_hygiene_tests.hygiene.frames import NOW, contacts_frame, verifications_frame

SINCE = NOW - timedelta(hours=6)


def _dated(frame: pl.DataFrame, created: list, updated: list) -> pl.DataFrame:
    dtype = frame.schema["created_at"]
    return frame.with_columns(
        pl.Series("created_at", created, dtype=dtype), pl.Series("updated_at", updated, dtype=dtype)
    )


def test_each_kind_of_change_is_told_apart(db_url: str) -> None:
    old = SINCE - timedelta(days=300)
    monthly = contacts_frame(["ann@x.com", "bob@x.com", "cat@x.com", None])
    with AddressBook(db_url) as book:
        assert book.remember("shop", monthly) == 4
    with CreditLedger(db_url) as ledger:  # this month's run also charged dan's address
        ledger.charge(
            "shop", "2026-05", verifications_frame([("Dan@X.com", "accepted")]), run_id="r"
        )

    window = _dated(
        contacts_frame(
            # name-only (case differs: same billing key) | new address | no email | address now |
            # new contact | older contact unknown to the book, charged | ... not charged
            ["ANN@x.com ", "bobby@x.com", None, "dee@x.com", "eve@x.com", "dan@x.com", "fay@x.com"]
        ),
        created=[old, old, old, old, NOW, old, old],
        updated=[NOW] * 7,
    )
    with AddressBook(db_url) as book:
        known = book.known("shop", window["contact_id"].to_list())
        charged = book.charged_keys("shop", "2026-05", window)
    assert set(known) == {1, 2, 3, 4}
    assert len(charged) == 1  # the ledger's own hash: the book reads the ledger's charges
    out = classify_changes(window, known, charged, SINCE)
    assert out["change"].to_list() == [
        SAME_ADDRESS,
        EMAIL_CHANGED,
        NO_EMAIL,
        EMAIL_CHANGED,  # contact 4 had no email when seen: an address now is a new address
        NEW,
        ALREADY_VERIFIED,
        NOT_VERIFIED_THIS_MONTH,
    ]
    assert out["verify"].to_list() == [False, True, False, True, True, False, True]


def test_charges_of_another_month_or_connection_do_not_count(db_url: str) -> None:
    window = contacts_frame(["dan@x.com"])
    with CreditLedger(db_url) as ledger:
        ledger.charge(
            "shop", "2026-04", verifications_frame([("dan@x.com", "accepted")]), run_id="r"
        )
        ledger.charge(
            "other", "2026-05", verifications_frame([("dan@x.com", "accepted")]), run_id="r"
        )
        # unknown results are refunded, not charged: no verdict, so verify again
        ledger.charge(
            "shop", "2026-05", verifications_frame([("dan@x.com", "greylisted")]), run_id="r"
        )
    with AddressBook(db_url) as book:
        assert book.charged_keys("shop", "2026-05", window) == set()


def test_newest_sighting_wins_whatever_the_order(db_url: str) -> None:
    newer = _dated(contacts_frame(["new@x.com"]), [NOW], [NOW])
    older = _dated(contacts_frame(["old@x.com"]), [NOW], [NOW - timedelta(hours=1)])
    with AddressBook(db_url) as book:
        book.remember("shop", newer)
        book.remember("shop", older)  # a slower run recording what it read earlier
        first = book.known("shop", [1])
        book.remember("shop", _dated(contacts_frame(["newest@x.com"]), [NOW], [NOW]))
        second = book.known("shop", [1])
    window = contacts_frame(["new@x.com"])
    assert classify_changes(window, first, set(), SINCE)["change"].to_list() == [SAME_ADDRESS]
    assert classify_changes(window, second, set(), SINCE)["change"].to_list() == [EMAIL_CHANGED]


def test_connections_are_kept_apart(db_url: str) -> None:
    with AddressBook(db_url) as book:
        book.remember("shop", contacts_frame(["a@x.com"]))
        assert book.known("other", [1]) == {}
        assert set(book.known("shop", [1, 2])) == {1}

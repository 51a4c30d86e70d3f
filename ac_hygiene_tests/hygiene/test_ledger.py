"""The billing rules, on SQLite and on PostgreSQL (the `db_url` fixture runs each test on both)."""

from __future__ import annotations

import polars as pl
import pytest

from ac_hygiene.hygiene import ChargeSummary, CreditLedger, normalize_month
from ac_hygiene.hygiene import ledger as ledger_module
from ac_hygiene_tests.hygiene.frames import verifications_frame

MONTH = "2026-05"


def _results(*rows: tuple[str | None, str]) -> pl.DataFrame:
    return pl.DataFrame(list(rows), schema={"email": pl.String, "status": pl.String}, orient="row")


@pytest.fixture
def ledger(db_url):
    with CreditLedger(db_url) as ledger:
        yield ledger


def test_one_credit_per_distinct_address_unknown_refunded(ledger):
    frame = verifications_frame(
        [
            ("Alice@Acme.com", "accepted"),
            (" alice@acme.com ", "accepted"),  # same billing key: trimmed, lower-cased
            ("bob@acme.com", "mailbox_not_found"),
            ("carol@acme.com", "mailbox_full"),
            ("erin@grey.net", "greylisted"),
            (None, "invalid_syntax"),
            ("   ", "invalid_syntax"),
        ]
    )
    summary = ledger.charge("acct", MONTH, frame, run_id="run-1")
    assert summary == ChargeSummary(
        charged=3, already_charged=0, refunded_unknown=1, duplicates=1, no_email=2
    )
    assert ledger.credits_used("acct", MONTH) == 3


def test_billing_key_is_not_provider_aware(ledger):
    summary = ledger.charge(
        "acct",
        MONTH,
        _results(("j.doe@gmail.com", "deliverable"), ("jdoe+news@gmail.com", "deliverable")),
        run_id="r",
    )
    assert summary.charged == 2


def test_charging_the_same_batch_again_charges_nothing(ledger):
    frame = _results(("a@d.com", "deliverable"), ("b@d.com", "risky"), ("c@d.com", "unknown"))
    first = ledger.charge("acct", MONTH, frame, run_id="run-1")
    again = ledger.charge("acct", MONTH, frame, run_id="run-1-retry")
    assert (first.charged, first.already_charged) == (2, 0)
    # the retry's unknown was refunded by the first run: not a second refund (issue 13, item 5)
    assert (again.charged, again.already_charged, again.refunded_unknown) == (0, 2, 0)
    assert again.unknown_already_refunded == 1
    assert ledger.credits_used("acct", MONTH) == 2
    assert ledger.refunds_held("acct", MONTH) == first.refunded_unknown + again.refunded_unknown


def test_contacts_shared_by_two_segments_are_charged_once(ledger):
    list_segment = _results(("a@d.com", "deliverable"), ("shared@d.com", "undeliverable"))
    tag_segment = _results(("SHARED@d.com", "undeliverable"), ("b@d.com", "deliverable"))
    assert ledger.charge("acct", MONTH, list_segment, run_id="list-3").charged == 2
    second = ledger.charge("acct", MONTH, tag_segment, run_id="tag-9")
    assert (second.charged, second.already_charged) == (1, 1)
    assert ledger.credits_used("acct", MONTH) == 3


def test_months_and_connections_are_billed_separately(ledger):
    frame = _results(("a@d.com", "deliverable"))
    ledger.charge("acct", "2026-05", frame, run_id="r")
    assert ledger.charge("acct", "2026-06", frame, run_id="r").charged == 1
    assert ledger.charge("other", "2026-05", frame, run_id="r").charged == 1
    assert ledger.credits_used("acct", "2026-05") == 1
    assert ledger.credits_used("acct", "2026-06") == 1
    assert ledger.credits_used("other", "2026-05") == 1
    assert ledger.credits_used("nobody", "2026-05") == 0


def test_definite_then_unknown_stays_charged(ledger):
    ledger.charge("acct", MONTH, _results(("a@d.com", "deliverable")), run_id="r1")
    later = ledger.charge("acct", MONTH, _results(("a@d.com", "unknown")), run_id="r2")
    assert (later.charged, later.already_charged, later.refunded_unknown) == (0, 1, 0)
    assert ledger.credits_used("acct", MONTH) == 1
    statement = ledger.statement("acct", MONTH)
    assert statement.select("billing_key", "status", "charged", "run_id").rows() == [
        ("a@d.com", "deliverable", True, "r1")
    ]


def test_unknown_then_definite_is_charged_when_definite(ledger):
    first = ledger.charge("acct", MONTH, _results(("a@d.com", "unknown")), run_id="r1")
    assert (first.charged, first.refunded_unknown) == (0, 1)
    assert ledger.credits_used("acct", MONTH) == 0
    assert ledger.statement("acct", MONTH).select("charged", "status").rows() == [
        (False, "unknown")
    ]
    later = ledger.charge("acct", MONTH, _results(("a@d.com", "undeliverable")), run_id="r2")
    assert later.charged == 1
    assert ledger.credits_used("acct", MONTH) == 1
    assert ledger.statement("acct", MONTH).select("status", "charged", "run_id").rows() == [
        ("undeliverable", True, "r2")
    ]


def test_a_definite_duplicate_wins_over_an_unknown_one_in_the_same_batch(ledger):
    summary = ledger.charge(
        "acct", MONTH, _results(("a@d.com", "unknown"), ("A@d.com", "deliverable")), run_id="r"
    )
    assert (summary.charged, summary.refunded_unknown, summary.duplicates) == (1, 0, 1)


def test_statement_lists_charges_and_refunds_in_key_order(ledger):
    frame = verifications_frame(
        [("b@d.com", "accepted"), ("a@d.com", "dns_error"), ("c@d.com", "no_domain")]
    )
    ledger.charge("acct", MONTH, frame, run_id="run-7")
    statement = ledger.statement("acct", MONTH)
    assert statement.schema == pl.Schema(
        {
            "billing_key": pl.String,
            "status": pl.String,
            "reason": pl.String,
            "charged": pl.Boolean,
            "run_id": pl.String,
            "segment": pl.String,
            "recorded_at": pl.Datetime("us", "UTC"),
        }
    )
    assert statement.select("billing_key", "status", "reason", "charged").rows() == [
        ("a@d.com", "unknown", "dns_error", False),
        ("b@d.com", "deliverable", "accepted", True),
        ("c@d.com", "undeliverable", "no_domain", True),
    ]
    assert ledger.statement("acct", "2026-04").height == 0


def test_cache_hits_are_charged_unless_told_otherwise(ledger):
    frame = verifications_frame([("a@d.com", "accepted")], from_cache=True)
    assert ledger.charge("acct", MONTH, frame, run_id="r").charged == 1
    free = ledger.charge("acct", "2026-06", frame, run_id="r", charge_cache_hits=False)
    assert (free.charged, free.free_cache_hits) == (0, 1)
    assert ledger.credits_used("acct", "2026-06") == 0


def test_batches_larger_than_a_chunk(ledger, monkeypatch):
    monkeypatch.setattr(ledger_module, "CHUNK_SIZE", 100)
    emails = [f"user{i}@d.com" for i in range(1050)]
    frame = _results(
        *[(e, "unknown" if i % 7 == 0 else "deliverable") for i, e in enumerate(emails)]
    )
    calls = []
    summary = ledger.charge(
        "acct", MONTH, frame, run_id="r", progress=lambda done, total: calls.append((done, total))
    )
    assert calls == [(i, 1050) for i in range(100, 1050, 100)] + [(1050, 1050)]
    definite = sum(1 for i in range(1050) if i % 7)
    assert (summary.charged, summary.refunded_unknown) == (definite, 1050 - definite)
    assert ledger.credits_used("acct", MONTH) == definite
    assert ledger.charge("acct", MONTH, frame, run_id="r").already_charged == definite


def test_huge_garbage_addresses_are_charged_like_any_other(ledger):
    # invalid syntax is a definite verdict; the key must not break a database index
    huge = "x" * 10_000 + "@" + "d" * 5_000
    summary = ledger.charge("acct", MONTH, _results((huge, "undeliverable")), run_id="r")
    assert summary.charged == 1
    assert ledger.charge("acct", MONTH, _results((huge.upper(), "undeliverable")), run_id="r") == (
        ChargeSummary(charged=0, already_charged=1, refunded_unknown=0, duplicates=0)
    )
    assert ledger.statement("acct", MONTH)["billing_key"].to_list() == [huge]


def test_addresses_with_nul_characters_are_charged_on_every_backend(ledger):
    # invalid syntax, charged as verified; PostgreSQL text cannot hold NUL, SQLite can
    frame = _results(
        ("a\x00b@d.com", "undeliverable"), ("a\ufffdb@d.com", "undeliverable"), ("\x00", "unknown")
    )
    summary = ledger.charge("acct", MONTH, frame, run_id="r")
    assert (summary.charged, summary.refunded_unknown) == (2, 1)  # two keys, not merged
    assert ledger.charge("acct", MONTH, frame, run_id="r2").already_charged == 2
    assert ledger.credits_used("acct", MONTH) == 2
    statement = ledger.statement("acct", MONTH)
    assert sorted(statement.select("billing_key", "charged").rows()) == [
        ("a\ufffdb@d.com", True),
        ("a\ufffdb@d.com", True),
        ("\ufffd", False),
    ]


def test_empty_batch_charges_nothing(ledger):
    assert ledger.charge("acct", MONTH, _results(), run_id="r") == ChargeSummary(0, 0, 0, 0)


def test_partition_keys_are_accepted_as_months(ledger):
    ledger.charge("acct", "2026-05-01", _results(("a@d.com", "deliverable")), run_id="r")
    assert ledger.credits_used("acct", "2026-05") == 1
    assert normalize_month("2026-12-01") == "2026-12"


@pytest.mark.parametrize("month", ["2026-13", "May 2026", "2026-5", "2026-05-02", "", None])
def test_bad_months_are_refused(sqlite_url, month):
    with (
        CreditLedger(sqlite_url) as ledger,
        pytest.raises(ValueError, match="month must look like 'YYYY-MM'"),
    ):
        ledger.charge("acct", month, _results(("a@d.com", "deliverable")), run_id="r")


def test_bad_batches_are_refused_with_clear_errors(sqlite_url):
    with CreditLedger(sqlite_url) as ledger:
        with pytest.raises(ValueError, match=r"lacks column\(s\) status"):
            ledger.charge("acct", MONTH, pl.DataFrame({"email": ["a@d.com"]}), run_id="r")
        with pytest.raises(ValueError, match="status outside deliverable"):
            ledger.charge("acct", MONTH, _results(("a@d.com", "valid")), run_id="r")
        with pytest.raises(ValueError, match="connection must be a non-empty string"):
            ledger.charge(" ", MONTH, _results(("a@d.com", "deliverable")), run_id="r")
        with pytest.raises(ValueError, match="run_id is longer than 200"):
            ledger.charge("acct", MONTH, _results(("a@d.com", "deliverable")), run_id="r" * 201)
        assert ledger.credits_used("acct", MONTH) == 0


def test_a_run_killed_part_way_resumes_without_double_charging(ledger, monkeypatch):
    monkeypatch.setattr(ledger_module, "CHUNK_SIZE", 100)
    frame = _results(*[(f"user{i}@d.com", "deliverable") for i in range(350)])

    def crash_after_two_chunks(done: int, total: int) -> None:
        if done >= 200:
            raise KeyboardInterrupt("killed")

    with pytest.raises(KeyboardInterrupt):
        ledger.charge("acct", MONTH, frame, run_id="r", progress=crash_after_two_chunks)
    assert ledger.credits_used("acct", MONTH) == 200  # the committed chunks are kept
    resumed = ledger.charge("acct", MONTH, frame, run_id="r-retry")
    assert (resumed.charged, resumed.already_charged) == (150, 200)
    assert ledger.credits_used("acct", MONTH) == 350


def test_charges_do_not_depend_on_the_bulk_insert_path(tmp_path, monkeypatch):
    """SQLite's executemany shortcut (`db.insert_many`) charges, refunds and counts exactly as
    SQLAlchemy's own path: same summaries, same statement rows."""
    from ac_hygiene.hygiene import db as db_module

    first = verifications_frame(
        [(f"user{i}@acme.com", "accepted") for i in range(2_500)]  # more than one chunk
        + [(f"grey{i}@grey.net", "greylisted") for i in range(30)]
        + [("Dup@Acme.com", "accepted"), ("dup@acme.com ", "accepted"), (None, "invalid_syntax")]
        + [("nul\x00@acme.com", "mailbox_not_found")]
    )
    second = verifications_frame(
        [(f"user{i}@acme.com", "smtp_timeout") for i in range(0, 2_500, 7)]  # stays charged
        + [(f"grey{i}@grey.net", "accepted") for i in range(0, 30, 2)]  # refunded, now charged
        + [(f"grey{i}@grey.net", "greylisted") for i in range(1, 30, 2)]  # refunded already
        + [(f"new{i}@acme.com", "mailbox_full") for i in range(40)]
    )
    outcomes = []
    for shortcut in (True, False):
        if not shortcut:
            monkeypatch.setattr(db_module, "_driver_statement", lambda *_args: None)
        with CreditLedger(f"sqlite:///{tmp_path / f'ledger-{shortcut}.sqlite'}") as ledger:
            summaries = [
                ledger.charge("acct", MONTH, first, run_id="run-1"),
                ledger.charge("acct", MONTH, first, run_id="run-1"),  # a retry charges nothing
                ledger.charge("acct", MONTH, second, run_id="run-2"),
            ]
            statement = ledger.statement("acct", MONTH).drop("recorded_at")
            outcomes.append((summaries, statement, ledger.refunds_held("acct", MONTH)))
    (fast, fast_statement, fast_held), (plain, plain_statement, plain_held) = outcomes
    assert fast == plain
    assert fast[0].charged == 2_502 and fast[1].charged == 0 and fast[2].charged == 55
    assert fast_statement.equals(plain_statement)
    assert fast_held == plain_held == 15

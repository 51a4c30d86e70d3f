"""`ac-hygiene credits add|budget|show|statement`: what a user types, what they read back."""

from __future__ import annotations

import csv
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner

from ac_hygiene.cli import cli
from ac_hygiene.hygiene import CreditLedger


@pytest.fixture
def data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The data directory of the default ledger; the built-in `demo` connection configured."""
    for name in ("AC_HYGIENE_LEDGER_URL", "AC_HYGIENE_CONNECTIONS", "AC_API_URL", "AC_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AC_HYGIENE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)
    return tmp_path / "data"


def run(*args: str):
    return CliRunner().invoke(cli, ["credits", *args], catch_exceptions=False)


def ledger_url(data: Path) -> str:
    return f"sqlite:///{data / 'ledger.sqlite'}"


def test_add_show_and_budget(data: Path) -> None:
    result = run("add", "--connection", "demo", "10,000", "--note", "invoice 42")
    assert result.exit_code == 0, result.output
    assert result.output == "demo: added 10,000 credits; balance 10,000.\n"
    assert run("budget", "--connection", "demo", "4000").exit_code == 0
    with CreditLedger(ledger_url(data)) as ledger:
        frame = pl.DataFrame({"email": ["a@d.com", "b@d.com"], "status": ["deliverable"] * 2})
        ledger.charge("demo", "2026-05", frame, run_id="r1")
    shown = run("show", "--connection", "demo", "--month", "2026-05")
    assert shown.exit_code == 0, shown.output
    assert "balance   9,998" in shown.output
    assert "budget    4,000 a month, 3,998 left" in shown.output
    assert "used      2 credits (0 unknown refunded)" in shown.output
    assert "(batch)" in shown.output  # the per-segment line of a charge made outside a run
    assert run("budget", "--connection", "demo", "none").output == "demo: no monthly budget.\n"
    assert "budget    none" in run("show", "--connection", "demo").output


def test_a_connection_never_topped_up_is_shown_unmetered(data: Path) -> None:
    result = run("show")
    assert result.exit_code == 0
    assert "demo" in result.output and "unmetered" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("add", "--connection", "demo", "0"), "credits must be positive, got 0"),
        (("add", "--connection", "demo", "-5"), "'-5' is not a whole number of credits"),
        (("add", "--connection", "demo", "1.5"), "'1.5' is not a whole number of credits"),
        (("add", "--connection", "demo", "12,34"), "'12,34' is not a whole number"),
        (("add", "--connection", "demo", "10" + "0" * 13), "at most 1,000,000,000,000"),
        (("add", "--connection", "dmeo", "100"), "no connection named 'dmeo'"),
        (("budget", "--connection", "demo", "lots"), "'lots' is not a whole number"),
        (("show", "--month", "2026-13"), "--month: month must look like 'YYYY-MM'"),
        (("statement", "--connection", "demo", "--month", "May"), "month must look like"),
        (
            ("statement", "--connection", "demo", "--month", "2026-05", "--csv", "/no/such/x.csv"),
            "--csv: directory /no/such does not exist",
        ),
        (("show", "--ledger", "mysql://h/db"), "unsupported ledger database mysql://h/db"),
    ],
)
def test_bad_input_gets_one_clear_line(data: Path, args: tuple[str, ...], message: str) -> None:
    result = CliRunner().invoke(cli, ["credits", *args])
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output


def test_an_unreachable_ledger_is_one_line_without_its_password(data: Path) -> None:
    result = CliRunner().invoke(
        cli, ["credits", "show", "--ledger", "postgresql://u:hunter2@127.0.0.1:1/x"]
    )
    assert result.exit_code == 1
    assert "cannot use the ledger database" in result.output
    assert "hunter2" not in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_statement_lists_every_charge_and_refund(data: Path, tmp_path: Path) -> None:
    run("add", "--connection", "demo", "500")
    with CreditLedger(ledger_url(data)) as ledger:
        hold = ledger.reserve("demo", "2026-05", 3, run_id="run-1", segment="list-3")
        frame = pl.DataFrame(
            {
                "email": ["a@d.com", "B@d.com", "c@d.com"],
                "status": ["deliverable", "undeliverable", "unknown"],
            }
        )
        ledger.charge("demo", "2026-05", frame, run_id="run-1", reservation=hold)
        ledger.release(hold)
    out = tmp_path / "statement.csv"
    result = run("statement", "--connection", "demo", "--month", "2026-05", "--csv", str(out))
    assert result.exit_code == 0, result.output
    assert "2 credits charged, 1 unknown refunded" in result.output
    with out.open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert sorted((r["address"], r["kind"], r["credits"], r["segment"]) for r in rows) == [
        ("a@d.com", "charge", "1", "list-3"),
        ("b@d.com", "charge", "1", "list-3"),
        ("c@d.com", "refund", "0", "list-3"),
    ]
    printed = run("statement", "--connection", "demo", "--month", "2026-05")
    assert printed.output.count("run-1") == 3

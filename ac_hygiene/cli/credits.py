"""`ac-hygiene credits add|budget|show|statement`: a connection's balance, budget and statement.

The ledger database is the one the pipeline uses: `--ledger URL`, else `$AC_HYGIENE_LEDGER_URL`,
else `data/ledger.sqlite` under `$AC_HYGIENE_DATA_DIR` (or `./data`). A connection to which no
credits were ever added is unmetered: its runs are charged on the ledger but never stopped.

Adding credits or setting a budget needs a connection of the configuration (a typo would put
money on an account no run ever uses); reading works for any name the ledger knows.
"""

from __future__ import annotations

import csv
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from ac_hygiene.cli.check_connection import EXIT_BAD_INPUT, EXIT_OTHER, _fail

if TYPE_CHECKING:
    from ac_hygiene.hygiene.ledger import CreditLedger

_NUMBER = re.compile(r"^\d{1,3}(?:[,_]\d{3})*$|^\d+$")
PREVIEW_LINES = 20


class Credits(click.ParamType):
    """A whole number of credits; `10000`, `10,000` and `10_000` alike."""

    name = "credits"

    def convert(self, value: Any, param: Any, ctx: Any) -> int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        text = str(value).strip()
        if not _NUMBER.match(text):
            self.fail(f"{value!r} is not a whole number of credits (e.g. 10000 or 10,000)")
        return int(text.replace(",", "").replace("_", ""))


def _ledger_url(url: str | None) -> str:
    from ac_hygiene.defs.paths import ledger_url

    return url or ledger_url()


def _open(url: str | None) -> CreditLedger:
    from ac_hygiene.hygiene import CreditLedger, LedgerDatabaseError
    from ac_hygiene.hygiene.db import parse_url

    url = _ledger_url(url)
    try:
        parse_url(url)
    except LedgerDatabaseError as exc:  # not a ledger URL at all: the user's input
        _fail(str(exc), EXIT_BAD_INPUT)
    try:
        return CreditLedger(url)
    except LedgerDatabaseError as exc:
        _fail(str(exc), EXIT_OTHER)
        raise  # unreachable


def _month(value: str | None) -> str:
    from ac_hygiene.hygiene import normalize_month

    if value is None:
        return datetime.now(UTC).strftime("%Y-%m")
    try:
        return normalize_month(value)
    except ValueError as exc:
        _fail(f"--month: {exc}", EXIT_BAD_INPUT)
        raise  # unreachable


def _configured(name: str) -> None:
    """Refuse a connection that is not configured (credits must land where runs charge)."""
    from ac_hygiene.config import ConnectionsConfigError, load_connections

    try:
        load_connections().get(name)
    except KeyError as exc:
        _fail(
            f"{str(exc).strip(chr(34) + chr(39))}; credits are kept per connection name, "
            "so add them to a configured one",
            EXIT_BAD_INPUT,
        )
    except ConnectionsConfigError as exc:
        _fail(str(exc), EXIT_BAD_INPUT)


def _guarded(work: Any) -> Any:
    from ac_hygiene.hygiene import LedgerDatabaseError

    try:
        return work()
    except ValueError as exc:
        _fail(str(exc), EXIT_BAD_INPUT)
    except LedgerDatabaseError as exc:
        _fail(str(exc), EXIT_OTHER)
    return None


_LEDGER = click.option(
    "--ledger",
    "ledger_url",
    metavar="URL",
    help="Ledger database (default: $AC_HYGIENE_LEDGER_URL, else data/ledger.sqlite).",
)
_CONNECTION = click.option(
    "--connection", "connection", required=True, metavar="NAME", help="The connection's name."
)


@click.group(name="credits")
def credits_group() -> None:
    """Balances, monthly budgets and statements (1 credit per distinct address a month)."""


# "-5" reaches the argument (and its clear message) instead of "no such option"
_NUMBERS_MAY_BE_NEGATIVE = {"ignore_unknown_options": True}


@credits_group.command(name="add", context_settings=_NUMBERS_MAY_BE_NEGATIVE)
@_CONNECTION
@click.argument("amount", type=Credits(), metavar="CREDITS")
@click.option("--note", default="", help="Why (an invoice number, say); shown on `show`.")
@_LEDGER
def add(connection: str, amount: int, note: str, ledger_url: str | None) -> None:
    """Add CREDITS to a connection's balance (the connection becomes metered)."""
    _configured(connection)
    with _open(ledger_url) as ledger:
        balance = _guarded(lambda: ledger.top_up(connection, amount, note))
    click.echo(f"{connection}: added {amount:,} credits; balance {balance:,}.")


@credits_group.command(name="budget", context_settings=_NUMBERS_MAY_BE_NEGATIVE)
@_CONNECTION
@click.argument("amount", metavar="CREDITS|none")
@_LEDGER
def budget(connection: str, amount: str, ledger_url: str | None) -> None:
    """Set the most a connection may spend per month (`none` removes the budget)."""
    _configured(connection)
    value = None if amount.strip().lower() == "none" else Credits().convert(amount, None, None)
    with _open(ledger_url) as ledger:
        _guarded(lambda: ledger.set_budget(connection, value))
    shown = "no monthly budget" if value is None else f"a monthly budget of {value:,} credits"
    click.echo(f"{connection}: {shown}.")


def _connections_known(ledger: CreditLedger) -> list[str]:
    from ac_hygiene.config import ConnectionsConfigError, load_connections

    try:
        names = [c.name for c in load_connections().connections]
    except ConnectionsConfigError:
        names = []
    return sorted({*names, *ledger.connections()})


@credits_group.command(name="show")
@click.option("--connection", "connection", metavar="NAME", help="One connection (default: all).")
@click.option("--month", metavar="YYYY-MM", help="Month to show (default: this month, UTC).")
@_LEDGER
def show(connection: str | None, month: str | None, ledger_url: str | None) -> None:
    """Balance, budget, credits used this month and per segment."""
    month = _month(month)
    with _open(ledger_url) as ledger:
        names = [connection] if connection else _guarded(lambda: _connections_known(ledger))
        if not names:
            click.echo("No connection is configured and the ledger holds no credits.")
            return
        for name in names:
            state = _guarded(lambda name=name: ledger.account(name, month))
            used = _guarded(lambda name=name: ledger.credits_used(name, month))
            refunded = _guarded(lambda name=name: ledger.refunds_held(name, month))
            segments = _guarded(lambda name=name: ledger.segments(name, month))
            click.echo(f"{name}  {month}")
            if state.metered:
                held = (
                    f" ({state.held:,} held by running segments, {state.available:,} available)"
                    if state.held
                    else ""
                )
                click.echo(f"  balance   {state.balance:,}{held}")
            else:
                click.echo("  balance   unmetered (no credits added: runs are never stopped)")
            if state.monthly_budget is None:
                click.echo("  budget    none")
            else:
                click.echo(
                    f"  budget    {state.monthly_budget:,} a month, {state.budget_left:,} left"
                )
            click.echo(f"  used      {used:,} credits ({refunded:,} unknown refunded)")
            for segment, runs, charged, refunds, held in segments.iter_rows():
                extra = f", {held:,} held" if held else ""
                click.echo(
                    f"    {segment:<16} {charged:>10,} charged, {refunds:,} unknown refunded, "
                    f"{runs} run(s){extra}"
                )


def _statement_rows(ledger: CreditLedger, connection: str, month: str) -> list[dict[str, Any]]:
    statement = ledger.statement(connection, month)
    rows = [
        {
            "recorded_at": row["recorded_at"].isoformat(),
            "kind": "charge" if row["charged"] else "refund",
            "address": row["billing_key"],
            "status": row["status"],
            "reason": row["reason"],
            "credits": 1 if row["charged"] else 0,
            "segment": row["segment"] or "",
            "run_id": row["run_id"],
        }
        for row in statement.iter_rows(named=True)
    ]
    rows.sort(key=lambda r: (r["recorded_at"], r["address"]))
    return rows


@credits_group.command(name="statement")
@_CONNECTION
@click.option("--month", required=True, metavar="YYYY-MM", help="The month of the statement.")
@click.option(
    "--csv",
    "csv_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write every line to this CSV file.",
)
@_LEDGER
def statement(connection: str, month: str, csv_path: Path | None, ledger_url: str | None) -> None:
    """One line per charge and refund of a connection's month (and its top-ups)."""
    month = _month(month)
    if csv_path is not None and not csv_path.parent.is_dir():
        _fail(f"--csv: directory {csv_path.parent} does not exist", EXIT_BAD_INPUT)
    with _open(ledger_url) as ledger:
        rows = _guarded(lambda: _statement_rows(ledger, connection, month))
        topups = _guarded(lambda: ledger.topups(connection, month))
    charged = sum(r["credits"] for r in rows)
    click.echo(
        f"{connection} {month}: {charged:,} credits charged, {len(rows) - charged:,} unknown "
        f"refunded; {topups.height} top-up(s) of {int(topups['credits'].sum()):,} credits"
    )
    for added_at, amount, balance_after, note in topups.iter_rows():
        suffix = f"  ({note})" if note else ""
        click.echo(
            f"  top-up {added_at:%Y-%m-%d %H:%M} +{amount:,} -> balance {balance_after:,}{suffix}"
        )
    if csv_path is not None:
        try:
            with csv_path.open("w", newline="", encoding="utf-8") as handle:
                writer = csv.DictWriter(handle, fieldnames=list(_FIELDS))
                writer.writeheader()
                writer.writerows(rows)
        except OSError as exc:
            _fail(f"--csv: cannot write {csv_path}: {exc.strerror}", EXIT_BAD_INPUT)
        click.echo(f"{len(rows):,} lines written to {csv_path}")
        return
    for row in rows[:PREVIEW_LINES]:
        click.echo("  " + "  ".join(str(row[f]) for f in _FIELDS))
    if len(rows) > PREVIEW_LINES:
        click.echo(f"  ... {len(rows) - PREVIEW_LINES:,} more lines: use --csv FILE for all")


_FIELDS = ("recorded_at", "kind", "address", "status", "reason", "credits", "segment", "run_id")

"""`ac-hygiene verify`: verify addresses from the command line or a file, without ActiveCampaign.

The same engine the Dagster assets run, pointed at a DNS server and SMTP port of your choice, so
it doubles as the way to try the engine against the sandbox mail world:

    ac-hygiene sandbox mail &                       # DNS on 127.0.0.1:5053, SMTP on 2525
    ac-hygiene verify --dns 127.0.0.1:5053 --smtp-port 2525 alice@acme.com bob@gone.biz
    ac-hygiene verify --dns 127.0.0.1:5053 --smtp-port 2525 --json --file contacts.txt
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from datetime import datetime
from typing import IO, Any

import click

# Above this many addresses a progress bar is shown on stderr.
_PROGRESS_FROM = 50


def _nameserver(ctx: click.Context, param: click.Parameter, value: str | None) -> Any:
    if not value:
        return None
    from ac_hygiene.verification.settings import parse_host_port

    try:
        return parse_host_port(value)
    except ValueError as error:
        raise click.BadParameter(str(error)) from None


def _read_file(handle: IO[bytes]) -> list[str]:
    """One address per line; blank lines are skipped, everything else is verified as written.

    The file must be UTF-8 (a byte-order mark, as spreadsheet exports write, is dropped): a
    guessed replacement character would be verified, and reported, as a different address.
    """
    data = handle.read()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        name = getattr(handle, "name", None)
        shown = name if isinstance(name, str) and name != "<stdin>" else "standard input"
        raise click.BadParameter(
            f"{shown} is not UTF-8 text: byte 0x{data[error.start]:02x} on line {line}; "
            "save it as UTF-8",
            param_hint="'--file'",
        ) from None
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return [line for line in lines if line.strip()]


def _json_value(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


@click.command(name="verify")
@click.argument("emails", nargs=-1)
@click.option(
    "--file",
    "file_",
    type=click.File("rb"),
    default=None,
    help="Read addresses from this file, one per line ('-' for standard input).",
)
@click.option(
    "--dns",
    envvar="AC_HYGIENE_DNS",
    show_envvar=True,
    callback=_nameserver,
    metavar="HOST:PORT",
    help="Name server to ask (default: the system resolver).",
)
@click.option(
    "--smtp-port",
    envvar="AC_HYGIENE_SMTP_PORT",
    show_envvar=True,
    type=click.IntRange(1, 65535),
    default=25,
    show_default=True,
    help="Port of the mail servers to probe.",
)
@click.option(
    "--helo",
    envvar="AC_HYGIENE_HELO",
    show_envvar=True,
    default=None,
    help="HELO name; should match this machine's reverse DNS (default: its FQDN).",
)
@click.option(
    "--canaries",
    envvar="AC_HYGIENE_CANARIES",
    show_envvar=True,
    default="",
    metavar="DOMAIN,...",
    help=(
        "Domains that must resolve before any DNS verdict is trusted "
        "(default: gmail.com,outlook.com,yahoo.com; 'none' turns the check off)."
    ),
)
@click.option("--no-smtp", is_flag=True, help="Stop after syntax, lists and DNS (no probing).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line per address.")
def verify(
    emails: tuple[str, ...],
    file_: IO[bytes] | None,
    dns: tuple[str, int] | None,
    smtp_port: int,
    helo: str | None,
    canaries: str,
    no_smtp: bool,
    as_json: bool,
) -> None:
    """Verify EMAIL... (or the addresses of --file): syntax, lists, typos, DNS and SMTP."""
    if emails and file_ is not None:
        raise click.UsageError("give addresses as arguments or with --file, not both")
    addresses = list(emails) if file_ is None else _read_file(file_)
    if not addresses:
        raise click.UsageError("no addresses: give EMAIL... or --file FILE ('-' for stdin)")

    from ac_hygiene.verification import VerificationSettings, verify_emails

    options: dict[str, Any] = {"smtp_port": smtp_port, "check_smtp": not no_smtp}
    if dns is not None:
        options["nameservers"] = [dns]
    if helo:
        options["helo_name"] = helo
    from ac_hygiene.defs.verifier import parse_canaries

    names = parse_canaries(canaries)
    if names is not None:
        options["canaries"] = names
    try:
        settings = VerificationSettings(**options)
        frame = _run(addresses, settings, verify_emails)
    except ValueError as error:
        raise click.ClickException(str(error)) from None

    if as_json:
        for row in frame.iter_rows(named=True):
            click.echo(json.dumps({k: _json_value(v) for k, v in row.items()}, ensure_ascii=False))
    else:
        _print_table(frame)
    counts = Counter(frame.get_column("status").to_list())
    summary = ", ".join(f"{count:,} {status}" for status, count in counts.most_common())
    click.echo(f"{frame.height:,} addresses: {summary}", err=True)


def _run(addresses: list[str], settings: Any, verify_emails: Any) -> Any:
    """Verify with a progress bar on stderr for long lists."""
    if len(addresses) < _PROGRESS_FROM:
        return verify_emails(addresses, settings)
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    console = Console(stderr=True)
    with Progress(
        "verifying",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as bar:
        task = bar.add_task("verify", total=len(addresses))

        def progress(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        return verify_emails(addresses, settings, progress=progress)


def _print_table(frame: Any) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    colours = {"deliverable": "green", "undeliverable": "red", "risky": "yellow"}
    table = Table()
    for header in ("email", "status", "reason", "suggestion", "flags", "mx host", "code"):
        # fold, not ellipsis: an address cut short is worse than a tall row
        table.add_column(header, overflow="fold")
    for row in frame.iter_rows(named=True):
        flags = [
            name
            for name, column in (
                ("disposable", "is_disposable"),
                ("role", "is_role"),
                ("free", "is_free"),
                ("catch-all", "is_catch_all"),
            )
            if row[column]
        ]
        colour = colours.get(row["status"], "bright_black")
        table.add_row(
            # Text(): an address is data, never rich markup ("[red]@x.com" must print as is).
            Text(row["email"] or ""),
            Text(row["status"], style=colour),
            row["reason"],
            Text(row["suggestion"] or ""),
            ", ".join(flags),
            Text(row["mx_host"] or ""),
            "" if row["smtp_code"] is None else str(row["smtp_code"]),
        )
    Console(file=sys.stdout, highlight=False).print(table)

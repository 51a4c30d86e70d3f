"""`ac-hygiene verify` against the sandbox mail world, as a person or a script would use it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from ac_hygiene.cli import cli
from ac_hygiene.sandbox.mailworld import (
    MailWorld,
    MailWorldServer,
    RunningMailWorld,
    default_world_path,
    sample_addresses,
)
from ac_hygiene.schemas import VERIFICATION_REASONS, VERIFICATION_STATUSES


@pytest.fixture(scope="module")
def world() -> MailWorld:
    return MailWorld.load(default_world_path())


@pytest.fixture(scope="module")
def running(world: MailWorld) -> Iterator[RunningMailWorld]:
    with MailWorldServer(world).run_in_thread() as running:
        yield running


def network(running: RunningMailWorld) -> list[str]:
    dns = f"{running.dns_host}:{running.dns_port}"
    return ["--dns", dns, "--smtp-port", str(running.smtp_port)]


def test_ten_thousand_addresses_from_a_file(
    running: RunningMailWorld, world: MailWorld, tmp_path: Path
) -> None:
    emails = sample_addresses(world, 10_000, seed=3)
    path = tmp_path / "contacts.txt"
    path.write_text("\n".join(emails) + "\n", encoding="utf-8")
    result = CliRunner().invoke(cli, ["verify", *network(running), "--json", "--file", str(path)])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [row["email"] for row in rows] == emails
    for row in rows:
        assert row["status"] in VERIFICATION_STATUSES
        assert row["reason"] in VERIFICATION_REASONS
        assert {"suggestion", "is_disposable", "is_role", "is_free", "is_catch_all"} <= set(row)
    statuses = {row["status"] for row in rows}
    assert {"deliverable", "undeliverable", "risky"} <= statuses
    assert "10,000 addresses:" in result.stderr
    gmail_typos = [row for row in rows if row["email"].endswith("@gmial.com")]
    assert gmail_typos and all(row["suggestion"].endswith("@gmail.com") for row in gmail_typos)


def test_table_for_a_few_addresses(running: RunningMailWorld) -> None:
    emails = ["alice@acme.com", "[bold]x@gone.biz", "info@acme.com"]
    result = CliRunner().invoke(cli, ["verify", *network(running), *emails], env={"COLUMNS": "160"})
    assert result.exit_code == 0, result.output
    assert "deliverable" in result.stdout
    assert "[bold]x@gone.biz" in result.stdout  # addresses are printed, never read as markup
    assert "role_account" in result.stdout
    assert "3 addresses: " in result.stderr


def test_stdin_and_no_smtp(running: RunningMailWorld) -> None:
    result = CliRunner().invoke(
        cli,
        ["verify", *network(running), "--no-smtp", "--json", "--file", "-"],
        input="alice@acme.com\n\nx@nullmx.org\n",
    )
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(row["email"], row["reason"]) for row in rows] == [
        ("alice@acme.com", "skipped"),
        ("x@nullmx.org", "null_mx"),
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--dns", "127.0.0.1:notaport", "a@b.com"], "expected host:port"),
        (["--file", "/no/such/file.txt"], "No such file"),
        ([], "no addresses"),
        (["--file", "-", "a@b.com"], "not both"),
    ],
)
def test_clear_errors(args: list[str], message: str) -> None:
    result = CliRunner().invoke(cli, ["verify", *args], input="")
    assert result.exit_code == 2
    assert message in result.output


def test_a_file_that_is_not_utf8_is_a_clear_error(tmp_path: Path) -> None:
    """A Latin-1 export must not be verified as addresses with U+FFFD in them."""
    path = tmp_path / "latin1.txt"
    path.write_bytes("alice@acme.com\njosé@acme.com\n".encode("latin-1"))
    result = CliRunner().invoke(cli, ["verify", "--no-smtp", "--file", str(path)])
    assert result.exit_code == 2
    assert "latin1.txt is not UTF-8 text: byte 0xe9 on line 2" in result.output
    piped = CliRunner().invoke(cli, ["verify", "--no-smtp", "--file", "-"], input=b"\xffa@b.com")
    assert piped.exit_code == 2
    assert "standard input is not UTF-8 text: byte 0xff on line 1" in piped.output


def test_a_byte_order_mark_is_not_part_of_the_first_address(
    running: RunningMailWorld, tmp_path: Path
) -> None:
    """Spreadsheets save "CSV UTF-8" with a BOM and CRLF line ends."""
    path = tmp_path / "export.csv"
    path.write_bytes("\ufeffalice@acme.com\r\nbob@acme.com\r\n".encode())
    result = CliRunner().invoke(cli, ["verify", *network(running), "--json", "--file", str(path)])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(row["email"], row["status"]) for row in rows] == [
        ("alice@acme.com", "deliverable"),
        ("bob@acme.com", "deliverable"),
    ]

"""`ac-hygiene sandbox serve`: starts on loopback, prints what a client needs, hides a given key."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import httpx
from click.testing import CliRunner

from ac_hygiene.cli import cli
from ac_hygiene_tests.sandbox.activecampaign.conftest import KEY, SMALL


def _start(*args: str, env: dict[str, str] | None = None) -> tuple[subprocess.Popen, list[str]]:
    process = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from ac_hygiene.cli import main; main()",
            "sandbox",
            "serve",
            *args,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, **(env or {})},
    )
    lines: list[str] = []
    assert process.stdout is not None
    for line in process.stdout:
        lines.append(line)
        if line.startswith("Ctrl-C"):
            return process, lines
    raise AssertionError(f"the server did not start: {''.join(lines)}")


def _stop(process: subprocess.Popen) -> str:
    process.send_signal(signal.SIGINT)
    out, _ = process.communicate(timeout=20)
    return out


def test_serves_a_fixture_with_a_given_key_that_is_never_printed() -> None:
    process, lines = _start("--port", "0", "--account", str(SMALL), env={"AC_SANDBOX_API_KEY": KEY})
    try:
        url = re.search(r"API URL\s+(http://127\.0\.0\.1:\d+)", "".join(lines)).group(1)
        response = httpx.get(f"{url}/api/3/contacts", headers={"Api-Token": KEY}, timeout=10)
        assert response.json()["meta"]["total"] == "12"
    finally:
        out = "".join(lines) + _stop(process)
    assert process.returncode == 0
    assert KEY not in out
    assert "****" + KEY[-4:] in out
    assert "Served 1 requests" in out


def test_generated_key_is_printed_so_that_it_can_be_used() -> None:
    process, lines = _start("--port", "0", "--contacts", "15", "--rate-limit", "0")
    try:
        text = "".join(lines)
        url = re.search(r"API URL\s+(\S+)", text).group(1)
        key = re.search(r"API key\s+([0-9a-f]{72})\s+\(generated", text).group(1)
        response = httpx.get(f"{url}/api/3/users/me", headers={"Api-Token": key}, timeout=10)
        assert response.status_code == 200
    finally:
        _stop(process)


def test_generation_options_cannot_go_with_a_fixture() -> None:
    result = CliRunner().invoke(
        cli, ["sandbox", "serve", "--account", str(SMALL), "--contacts", "5"]
    )
    assert result.exit_code == 2
    assert "--contacts generates an account; it cannot go with --account" in result.output
    for flag in ("--lists", "--tags"):
        result = CliRunner().invoke(cli, ["sandbox", "serve", "--account", str(SMALL), flag, "3"])
        assert result.exit_code == 2
        assert f"{flag} generates an account; it cannot go with --account" in result.output


def test_bad_fixture_and_bad_faults_are_explained(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"contacts": [{"id": 1, "cdate": "2025-01-01"}]}', encoding="utf-8")
    result = CliRunner().invoke(cli, ["sandbox", "serve", "--account", str(bad)])
    assert result.exit_code == 2  # bad input, like every other refused option
    assert "contacts[0]: missing required key 'email'" in result.output
    result = CliRunner().invoke(cli, ["sandbox", "serve", "--p-500", "0.7", "--p-503", "0.7"])
    assert result.exit_code == 2
    assert "at most 1" in result.output


def test_port_in_use_is_explained() -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = CliRunner().invoke(
            cli, ["sandbox", "serve", "--port", str(port), "--contacts", "1"]
        )
    assert result.exit_code == 1
    assert f"cannot listen on 127.0.0.1:{port}" in result.output

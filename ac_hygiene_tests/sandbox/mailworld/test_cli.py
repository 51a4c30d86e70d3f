"""`ac-hygiene sandbox mail`: serves until Ctrl-C, prints where things are, fails clearly."""

from __future__ import annotations

import codecs
import ctypes
import os
import re
import selectors
import signal
import smtplib
import subprocess
import sys
import time
from pathlib import Path

import dns.resolver
import pytest
from click.testing import CliRunner

from ac_hygiene.cli import cli
from ac_hygiene.sandbox.mailworld import MailWorld, MailWorldServer, default_world_path

_START_TIMEOUT_S = 30
_PR_CAPBSET_DROP = 24
_CAP_NET_BIND_SERVICE = 10


def _read_until_ready(process: subprocess.Popen[str]) -> str:
    """Everything the command printed up to its 'Ready.' line (failing if it never comes).

    Reads the pipe's file descriptor directly: a buffered readline() may pull 'Ready.' into
    Python's buffer, where select() cannot see it, and the wait would then time out.
    """
    assert process.stdout is not None
    fd = process.stdout.fileno()
    decoder = codecs.getincrementaldecoder("utf-8")()
    selector = selectors.DefaultSelector()
    selector.register(fd, selectors.EVENT_READ)
    output = ""
    deadline = time.monotonic() + _START_TIMEOUT_S
    while "Ready." not in output:
        remaining = deadline - time.monotonic()
        assert remaining > 0, f"no 'Ready.' line; output so far:\n{output}"
        if selector.select(timeout=remaining):
            chunk = os.read(fd, 65536)
            assert chunk, f"command exited early:\n{output}"
            output += decoder.decode(chunk)
    return output


def test_serves_the_default_world_until_interrupted() -> None:
    process = subprocess.Popen(
        [sys.executable, "-c", "from ac_hygiene.cli import main; main()", "sandbox", "mail",
         "--dns-port", "0", "--smtp-port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "COLUMNS": "120"},
    )  # fmt: skip
    try:
        output = _read_until_ready(process)
        dns_port = int(re.search(r"DNS:\s+127\.0\.0\.1:(\d+)", output).group(1))
        smtp_port = int(re.search(r"SMTP: port (\d+)", output).group(1))
        assert re.search(r"mx1\.acme\.com\s+.\s+127\.0\.0\.11\s+.\s+listening", output)
        assert re.search(r"mx\.down\.com\s+.\s+127\.0\.0\.33\s+.\s+nothing", output)

        resolver = dns.resolver.Resolver(configure=False)
        resolver.nameservers = ["127.0.0.1"]
        resolver.nameserver_ports = {"127.0.0.1": dns_port}
        # one attempt only: a retry after a slow first answer would be a second query served
        resolver.timeout = resolver.lifetime = _START_TIMEOUT_S
        assert [r.exchange.to_text() for r in resolver.resolve("globex.com", "MX")] == [
            "mx.globex.com."
        ]
        with smtplib.SMTP("127.0.0.26", smtp_port, timeout=5) as smtp:
            smtp.ehlo("probe.example")
            smtp.mail("probe@verifier.example")
            assert smtp.rcpt("hank@globex.com")[0] == 250
    finally:
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=_START_TIMEOUT_S)
    assert process.returncode == 0, stderr
    served = "Stopped. Served 1 DNS queries, 1 SMTP connections, 1 RCPT commands."
    assert served in stdout, f"{stdout[-2000:]}\n--- stderr ---\n{stderr[-2000:]}"


def test_bad_world_file_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("domains: {acme.com: {a: 8.8.8.8, mailbox: [x]}}\n", encoding="utf-8")
    result = CliRunner().invoke(cli, ["sandbox", "mail", "--world", str(bad)])
    assert result.exit_code == 1
    assert "2 problem(s)" in result.output
    assert "8.8.8.8 is not a loopback address" in result.output
    assert "did you mean 'mailboxes'?" in result.output


def test_taken_port_is_a_clear_error() -> None:
    world = MailWorld.load(default_world_path())
    with MailWorldServer(world).run_in_thread() as running:
        result = CliRunner().invoke(
            cli, ["sandbox", "mail", "--dns-port", "0", "--smtp-port", str(running.smtp_port)]
        )
    assert result.exit_code == 1
    assert f"port {running.smtp_port} is already in use on 127." in result.output
    assert "choose another port" in result.output


def test_missing_world_file_is_refused_by_click(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["sandbox", "mail", "--world", str(tmp_path / "no.yaml")])
    assert result.exit_code == 2
    assert "does not exist" in result.output


def _unprivileged_port_start() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_unprivileged_port_start").read_text())
    except (OSError, ValueError):
        return 1024


def _without_bind_privilege() -> None:  # runs in the child, before exec
    """Drop CAP_NET_BIND_SERVICE from the bounding set, so even root's child cannot bind 25."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_CAPBSET_DROP, _CAP_NET_BIND_SERVICE, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP) failed")


@pytest.mark.skipif(sys.platform != "linux", reason="privileged ports as Linux defines them")
def test_privileged_port_is_a_clear_error_not_a_traceback() -> None:
    """`--smtp-port 25` (the port verifiers default to) without root: say so, no traceback."""
    if _unprivileged_port_start() <= 25:
        pytest.skip("this system lets every user bind port 25")
    try:
        result = subprocess.run(
            [sys.executable, "-c", "from ac_hygiene.cli import main; main()", "sandbox", "mail",
             "--dns-port", "0", "--smtp-port", "25"],
            capture_output=True,
            text=True,
            timeout=_START_TIMEOUT_S,
            preexec_fn=_without_bind_privilege if os.geteuid() == 0 else None,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        raise
    except (OSError, subprocess.SubprocessError) as error:  # preexec_fn failed: no CAP_SETPCAP
        pytest.skip(f"cannot take the bind privilege away here: {error}")
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert "cannot start the mail world on 127." in result.stderr
    assert ":25: Permission denied" in result.stderr
    assert "ports below 1024 need root" in result.stderr

"""Verifier settings from the environment: `host:port` parsing and what reaches the engine."""

import pytest

from ac_hygiene.defs.resources import VerifierResource
from ac_hygiene.defs.verifier import parse_host_port


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("127.0.0.1:5353", ("127.0.0.1", 5353)),
        (" 10.0.0.2 ", ("10.0.0.2", 53)),
        ("[::1]:5353", ("::1", 5353)),
        ("[::1]", ("::1", 53)),
    ],
)
def test_host_port(text: str, expected: tuple[str, int]) -> None:
    assert parse_host_port(text) == expected


@pytest.mark.parametrize("text", ["", ":53", "host:port", "127.0.0.1:0", "127.0.0.1:70000"])
def test_bad_host_port_says_the_expected_form(text: str) -> None:
    with pytest.raises(
        ValueError, match=r"AC_HYGIENE_DNS: .*host:port \(e\.g\. 127\.0\.0\.1:5353\)"
    ):
        parse_host_port(text)


def test_environment_fills_what_the_resource_leaves_empty(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AC_HYGIENE_DNS", "127.0.0.1:5300")
    monkeypatch.setenv("AC_HYGIENE_SMTP_PORT", "2525")
    monkeypatch.setenv("AC_HYGIENE_HELO", "verifier.example")
    settings = VerifierResource().settings()
    assert list(settings.nameservers) == [("127.0.0.1", 5300)]
    assert (settings.smtp_port, settings.helo_name) == (2525, "verifier.example")
    configured = VerifierResource(dns="127.0.0.9:53", smtp_port=25).settings()
    assert list(configured.nameservers) == [("127.0.0.9", 53)]
    assert configured.smtp_port == 25


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("AC_HYGIENE_SMTP_PORT", "smtp", r"AC_HYGIENE_SMTP_PORT must be a port number, got 'smtp'"),
        ("AC_HYGIENE_SMTP_TIMEOUT", "10s", r"AC_HYGIENE_SMTP_TIMEOUT must be a number of seconds"),
    ],
)
def test_a_malformed_number_in_the_environment_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, message: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ValueError, match=message):
        VerifierResource().settings()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", ("gmail.com", "outlook.com", "yahoo.com")),
        ("none", ()),
        (" mx.acme.com , acme.org ", ("mx.acme.com", "acme.org")),
    ],
)
def test_canaries_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, text: str, expected: tuple[str, ...]
) -> None:
    monkeypatch.setenv("AC_HYGIENE_CANARIES", text)
    assert VerifierResource().settings().canaries == expected


def test_a_canary_that_is_no_domain_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AC_HYGIENE_CANARIES", "gmail.com,localhost")
    with pytest.raises(ValueError, match="canary 'localhost' is not a domain name"):
        VerifierResource().settings()


@pytest.mark.parametrize("value", ["inf", "nan"])
def test_an_infinite_smtp_timeout_is_refused(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    # `inf` would mean no timeout at all: one silent server would hold the batch for ever
    monkeypatch.setenv("AC_HYGIENE_SMTP_TIMEOUT", value)
    with pytest.raises(ValueError, match="finite number of seconds"):
        VerifierResource().settings()

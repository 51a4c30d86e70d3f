from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ac_hygiene.activecampaign.api_url import ALLOW_LOOPBACK_ENV, normalize_api_url
from ac_hygiene.activecampaign.errors import InvalidApiUrl


@pytest.fixture
def no_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ALLOW_LOOPBACK_ENV, raising=False)


@pytest.fixture
def loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ALLOW_LOOPBACK_ENV, "1")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("https://acme.api-us1.com", "https://acme.api-us1.com"),
        ("  https://acme.api-us1.com\n", "https://acme.api-us1.com"),
        ("\thttps://acme.api-us1.com/\r\n", "https://acme.api-us1.com"),
        ("acme.api-us1.com", "https://acme.api-us1.com"),
        ("acme.api-us1.com/api/3", "https://acme.api-us1.com"),
        ("https://acme.api-us1.com/api/3/", "https://acme.api-us1.com"),
        ("https://ACME.API-US1.COM/API/3", "https://acme.api-us1.com"),
        ("HTTPS://Acme-Corp.api-us2.com", "https://acme-corp.api-us2.com"),
        ("https://acme.api-eu1.com", "https://acme.api-eu1.com"),
        ("https://acme.api-ca1.com", "https://acme.api-ca1.com"),
        ("https://acme.api-us1.com.", "https://acme.api-us1.com"),
        ("https://123acme.api-us1.com", "https://123acme.api-us1.com"),
        ("acme.activehosted.com", "https://acme.activehosted.com"),
        ("https://acme.activehosted.com/api/3", "https://acme.activehosted.com"),
        # the web app's address in the browser: same host, the page is dropped
        ("https://acme.activehosted.com/app/contacts", "https://acme.activehosted.com"),
        ("acme.activehosted.com/app/contacts/?listid=3#x", "https://acme.activehosted.com"),
        ("https://ACME.activehosted.com/app", "https://acme.activehosted.com"),
    ],
)
def test_unambiguous_forms_are_normalized(no_loopback: None, raw: str, expected: str) -> None:
    assert normalize_api_url(raw) == expected


@pytest.mark.parametrize(
    ("raw", "hint"),
    [
        ("", "empty"),
        ("   \n", "empty"),
        ("http://acme.api-us1.com", "https://"),
        ("https://acme.api-us1.com/api/3/contacts", "path"),
        ("https://acme.api-us1.com/app/contacts", "path"),
        ("https://acme.activehosted.com/application", "path"),
        ("http://acme.activehosted.com/app/contacts", "https://"),
        ("https://user:pw@acme.activehosted.com/app", "password"),
        ("https://evil.com/app/contacts", "path"),
        ("https://acme.activehosted.com:8443/app", "path"),
        ("https://acme.activehosted.com:/app", "path"),
        ("https://acme.api-us1.com/api/1", "path"),
        ("https://acme.api-us1.com?x=1", "query"),
        ("https://acme.api-us1.com/?", "query"),
        ("https://acme.api-us1.com#top", "fragment"),
        ("https://user:pw@acme.api-us1.com", "password"),
        ("https://acme.api-us1.com@evil.com", "password"),
        ("https://acme.api-us1.com:443", "port"),
        ("https://acme.api-us1.com:8443", "port"),
        ("https://acme.api-us1.com:", "port"),
        ("https://evil.com", "not an ActiveCampaign"),
        ("https://api-us1.com", "not an ActiveCampaign"),
        ("https://acme.api-us1.com.evil.com", "not an ActiveCampaign"),
        ("https://a.b.api-us1.com", "not an ActiveCampaign"),
        ("https://acme.api-us1.co", "not an ActiveCampaign"),
        ("https://-acme.api-us1.com", "not an ActiveCampaign"),
        ("https://acme.activecampaign.com", "not an ActiveCampaign"),
        ("ftp://acme.api-us1.com", "https://"),
        ("https://acme .api-us1.com", "spaces"),
        ("https://acmé.api-us1.com", "characters"),
        ("https://10.0.0.5", "IP address"),
        ("https://192.168.1.1/api/3", "IP address"),
        ("https://172.16.0.1", "IP address"),
        ("http://169.254.169.254", "IP address"),
        ("https://0.0.0.0", "IP address"),
        ("https://8.8.8.8", "IP address"),
        ("https://[fd00::1]", "IP address"),
        ("https://[fe80::1]", "IP address"),
        ("https://2130706433", "IP address"),
        ("http://127.0.0.1:8000", "loopback"),
        ("http://localhost:8000", "loopback"),
        ("http://[::1]:8000", "loopback"),
        ("https://[::1", "well-formed"),
        ("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", "API key"),
    ],
)
def test_everything_else_is_refused_with_directions(no_loopback: None, raw: str, hint: str) -> None:
    with pytest.raises(InvalidApiUrl) as excinfo:
        normalize_api_url(raw)
    message = str(excinfo.value)
    assert hint.lower() in message.lower()
    assert "Settings → Developer" in message
    assert "https://YOURACCOUNT.api-us1.com" in message
    assert isinstance(excinfo.value, ValueError)


def test_the_message_never_quotes_the_input(no_loopback: None) -> None:
    secret = "deadbeef" * 9
    for raw in (secret, f"https://{secret}.example.com", f"https://x:{secret}@acme.api-us1.com"):
        with pytest.raises(InvalidApiUrl) as excinfo:
            normalize_api_url(raw)
        assert secret not in str(excinfo.value)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("http://127.0.0.1:8000", "http://127.0.0.1:8000"),
        ("http://127.0.0.1:8000/api/3/", "http://127.0.0.1:8000"),
        ("127.0.0.1:8000", "https://127.0.0.1:8000"),
        ("http://127.5.6.7:9", "http://127.5.6.7:9"),
        ("http://LOCALHOST:8000", "http://localhost:8000"),
        ("http://[::1]:8000", "http://[::1]:8000"),
    ],
)
def test_loopback_only_when_explicitly_allowed(loopback: None, raw: str, expected: str) -> None:
    assert normalize_api_url(raw) == expected


@pytest.mark.parametrize(
    "raw",
    ["http://10.0.0.1:80", "http://169.254.169.254", "http://0.0.0.0:8000", "http://[fd12::1]:80"],
)
def test_allowing_loopback_does_not_allow_internal_addresses(loopback: None, raw: str) -> None:
    with pytest.raises(InvalidApiUrl):
        normalize_api_url(raw)


def test_the_environment_is_read_at_call_time(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ALLOW_LOOPBACK_ENV, "1")
    assert normalize_api_url("http://127.0.0.1:1234") == "http://127.0.0.1:1234"
    monkeypatch.setenv(ALLOW_LOOPBACK_ENV, "0")
    with pytest.raises(InvalidApiUrl):
        normalize_api_url("http://127.0.0.1:1234")


_ALLOWED_OUTPUT = re.compile(
    r"https://[a-z0-9]([a-z0-9-]*[a-z0-9])?\.(api-[a-z]{2,4}[0-9]{1,3}|activehosted)\.com"
)
_LOOPBACK_OUTPUT = re.compile(
    r"https?://(localhost|127\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}|\[::1\])(:[0-9]{1,5})?"
)

_host_parts = st.sampled_from(
    [
        "acme",
        "ACME",
        "a-b",
        "-x",
        "api-us1",
        "api-eu1",
        "activehosted",
        "com",
        "evil",
        "127.0.0.1",
        "localhost",
        "[::1]",
        "169.254.169.254",
        "10.1.2.3",
        "[fd00::2]",
        "0.0.0.0",
        "",
    ]
)
_url_like = st.builds(
    lambda ws1, scheme, cred, labels, port, path, tail, ws2: (
        f"{ws1}{scheme}{cred}{'.'.join(labels)}{port}{path}{tail}{ws2}"
    ),
    st.sampled_from(["", " ", "\n", "\t "]),
    st.sampled_from(["", "https://", "http://", "HTTPS://", "ftp://", "//", "https:/"]),
    st.sampled_from(["", "user@", "u:p@"]),
    st.lists(_host_parts, min_size=1, max_size=4),
    st.sampled_from(["", ":443", ":8000", ":", ":99999", ":x"]),
    st.sampled_from(["", "/", "/api/3", "/api/3/", "/API/3", "/api", "/api/3/contacts", "//"]),
    st.sampled_from(["", "?", "?a=1", "#", "#f", "%20", ";x"]),
    st.sampled_from(["", " ", "\r\n"]),
)


def _check(raw: str, loopback_allowed: bool) -> None:
    try:
        result = normalize_api_url(raw)
    except InvalidApiUrl:
        return
    if _ALLOWED_OUTPUT.fullmatch(result):
        return
    assert loopback_allowed, f"{raw!r} -> {result!r}"
    assert _LOOPBACK_OUTPUT.fullmatch(result), f"{raw!r} -> {result!r}"


@settings(max_examples=400, deadline=None)
@given(raw=st.one_of(_url_like, st.text(max_size=80)))
def test_property_only_invalid_api_url_and_only_allowed_hosts(raw: str) -> None:
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv(ALLOW_LOOPBACK_ENV, raising=False)
        _check(raw, loopback_allowed=False)
        mp.setenv(ALLOW_LOOPBACK_ENV, "1")
        _check(raw, loopback_allowed=True)


@settings(max_examples=200, deadline=None)
@given(
    account=st.from_regex(r"[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?", fullmatch=True),
    region=st.sampled_from(["us1", "us2", "eu1", "ca1", "au1"]),
    scheme=st.sampled_from(["", "https://", "HTTPS://"]),
    suffix=st.sampled_from(["", "/", "/api/3", "/api/3/"]),
    ws=st.sampled_from(["", " ", "\n", " \t\r\n"]),
    upper=st.booleans(),
)
def test_property_pasted_forms_round_trip(
    account: str, region: str, scheme: str, suffix: str, ws: str, upper: bool
) -> None:
    host = f"{account}.api-{region}.com"
    raw = f"{ws}{scheme}{host.upper() if upper else host}{suffix}{ws}"
    assert normalize_api_url(raw) == f"https://{host}"
    assert normalize_api_url(normalize_api_url(raw)) == f"https://{host}"

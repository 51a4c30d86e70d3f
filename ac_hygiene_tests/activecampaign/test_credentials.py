from __future__ import annotations

import dataclasses
import logging
import pickle

import pytest

from ac_hygiene.activecampaign.api_key import ApiKey, normalize_api_key
from ac_hygiene.activecampaign.credentials import Connection
from ac_hygiene.activecampaign.errors import InvalidApiKey, InvalidApiUrl

KEY = "f00dfeedcafe" * 6  # 72 characters, like a real key


def test_key_is_stripped_and_revealed_only_on_request() -> None:
    key = normalize_api_key(f"  {KEY}\n")
    assert key.reveal() == KEY
    assert repr(key) == f"ApiKey('****{KEY[-4:]}')"
    assert str(key) == repr(key)
    assert f"{key}" == repr(key)
    assert "%s" % (key,) == repr(key)  # noqa: UP031 - the old formatting path must be safe too
    assert KEY[:-4] not in repr(key)


def test_short_keys_show_nothing() -> None:
    assert repr(ApiKey("abc123")) == "ApiKey('****')"


def test_key_equality_and_hash() -> None:
    assert normalize_api_key(KEY) == ApiKey(KEY)
    assert normalize_api_key(KEY) != ApiKey(KEY + "0")
    assert len({ApiKey(KEY), ApiKey(KEY)}) == 1


@pytest.mark.parametrize(
    ("raw", "hint"),
    [
        ("", "empty"),
        (" \n\t", "empty"),
        (KEY[:30] + " " + KEY[30:], "spaces"),
        (KEY[:30] + "\n" + KEY[30:], "line breaks"),
        (KEY + "é", "characters"),
        (KEY + "\x00", "characters"),
        ("https://acme.api-us1.com", "API URL"),
        ("acme.api-us1.com", "API URL"),
    ],
)
def test_bad_keys_are_refused_without_echoing_them(raw: str, hint: str) -> None:
    with pytest.raises(InvalidApiKey) as excinfo:
        normalize_api_key(raw)
    message = str(excinfo.value)
    assert hint in message
    assert "Settings → Developer" in message
    if raw.strip():
        assert raw.strip() not in message
        assert KEY[:30] not in message
    assert isinstance(excinfo.value, ValueError)


def test_connection_from_raw_normalizes_and_has_a_safe_repr(
    caplog: pytest.LogCaptureFixture,
) -> None:
    conn = Connection.from_raw(" main ", " acme.api-us1.com/api/3/\n", f"{KEY}\n")
    assert conn == Connection("main", "https://acme.api-us1.com", ApiKey(KEY))
    assert conn.api_key.reveal() == KEY
    with caplog.at_level(logging.DEBUG):
        logging.getLogger("test").info("connection %s %r", conn, conn)
    for text in (repr(conn), str(conn), caplog.text, repr(dataclasses.asdict(conn))):
        assert KEY not in text
        assert KEY[:-4] not in text
    with pytest.raises(dataclasses.FrozenInstanceError):
        conn.name = "other"  # type: ignore[misc]


def test_connection_survives_pickling_for_other_processes() -> None:
    conn = Connection.from_raw("main", "https://acme.api-us1.com", KEY)
    assert pickle.loads(pickle.dumps(conn)) == conn


def test_connection_refuses_raw_values() -> None:
    with pytest.raises(TypeError):
        Connection("main", "https://acme.api-us1.com", KEY)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        Connection("main", "acme.api-us1.com/api/3", ApiKey(KEY))
    with pytest.raises(InvalidApiUrl):
        Connection.from_raw("main", "http://acme.api-us1.com", KEY)
    with pytest.raises(InvalidApiKey):
        Connection.from_raw("main", "https://acme.api-us1.com", "")
    assert Connection.from_raw("", "https://acme.api-us1.com", KEY).name == "default"

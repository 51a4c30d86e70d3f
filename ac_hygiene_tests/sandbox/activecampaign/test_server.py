"""serve_in_thread: a real loopback server that starts, answers, and lets go of its port."""

from __future__ import annotations

import socket

import httpx
import pytest

from ac_hygiene.sandbox.activecampaign import create_app, generate_account
from ac_hygiene.sandbox.activecampaign.server import serve_in_thread
from ac_hygiene_tests.sandbox.activecampaign.conftest import KEY


def test_serves_on_loopback_and_shuts_down_cleanly() -> None:
    app = create_app(generate_account(25, seed=2), api_key=KEY)
    with serve_in_thread(app) as url:
        assert url.startswith("http://127.0.0.1:")
        port = int(url.rsplit(":", 1)[1])
        response = httpx.get(f"{url}/api/3/contacts", headers={"Api-Token": KEY})
        assert response.status_code == 200
        assert response.json()["meta"]["total"] == "25"
        assert response.json()["contacts"][0]["links"]["contactLists"].startswith(url)
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
        pass


def test_refuses_non_loopback_hosts() -> None:
    app = create_app(generate_account(1), api_key=KEY)
    with pytest.raises(ValueError, match="loopback"), serve_in_thread(app, host="0.0.0.0"):
        pass


def test_port_in_use_is_an_os_error() -> None:
    app = create_app(generate_account(1), api_key=KEY)
    with serve_in_thread(app) as url:
        port = int(url.rsplit(":", 1)[1])
        with pytest.raises(OSError), serve_in_thread(app, port=port):
            pass

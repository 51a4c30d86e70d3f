"""The demo's world on loopback: the sandbox ActiveCampaign account and the mail world, and the
environment variables that point the `demo` connection and the verifier at them.

`ac-hygiene demo` and `ac-hygiene ui` both start it, from the same generator seed and size, so the
UI serves the very account the demo cleaned (same contacts, same ids, same lists and tags). The
demo records its seed and size in `<data dir>/demo.json` for the UI to read back. The API key is
made anew for each start and only ever travels in the environment of the processes started here.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ac_hygiene.config import DEMO_KEY_ENV, DEMO_URL_ENV

DEFAULT_CONTACTS = 2_000
DEFAULT_SEED = 42
SETTINGS_FILE = "demo.json"


@dataclass(frozen=True)
class DemoWorld:
    """The running servers and the environment that reaches them."""

    env: dict[str, str]
    api_url: str
    masked_key: str
    dns: str
    smtp_port: int
    app: Any  # the sandbox's Starlette app: `app.state.sandbox.stats` counts its requests

    def describe(self) -> str:
        return (
            f"sandbox API on {self.api_url} (5 requests/s, key {self.masked_key}); "
            f"mail world DNS on {self.dns}, SMTP on port {self.smtp_port}"
        )


def save_settings(data_dir: Path, contacts: int, seed: int) -> None:
    """Remember the demo account's size and seed (no secret in it)."""
    (data_dir / SETTINGS_FILE).write_text(
        json.dumps({"contacts": contacts, "seed": seed}, indent=2) + "\n", encoding="utf-8"
    )


def load_settings(data_dir: Path) -> tuple[int, int, bool]:
    """(contacts, seed, found): the last demo's, else the defaults."""
    try:
        data = json.loads((data_dir / SETTINGS_FILE).read_text(encoding="utf-8"))
        contacts, seed = int(data["contacts"]), int(data["seed"])
    except (OSError, ValueError, KeyError, TypeError):
        return DEFAULT_CONTACTS, DEFAULT_SEED, False
    if contacts < 1:
        return DEFAULT_CONTACTS, DEFAULT_SEED, False
    return contacts, seed, True


@contextmanager
def demo_world(
    contacts: int, seed: int, data_dir: Path, say: Callable[[str], None] = lambda _: None
) -> Iterator[DemoWorld]:
    """Start the sandbox API and the mail world; stop both on exit (also on Ctrl-C)."""
    from ac_hygiene.activecampaign.api_key import ApiKey
    from ac_hygiene.sandbox.activecampaign import create_app, generate_account
    from ac_hygiene.sandbox.activecampaign.server import serve_in_thread
    from ac_hygiene.sandbox.mailworld import MailWorld, MailWorldServer, default_world_path

    api_key = secrets.token_hex(32)
    with ExitStack() as stack:
        say(f"generating a sandbox ActiveCampaign account: {contacts:,} contacts (seed {seed})")
        account = generate_account(contacts, seed=seed)
        app = create_app(account, api_key=api_key, rate_limit=5.0)
        base_url = stack.enter_context(serve_in_thread(app))
        world = MailWorld.load(default_world_path())
        mail = stack.enter_context(MailWorldServer(world).run_in_thread())
        env = {
            "AC_ALLOW_LOOPBACK": "1",
            DEMO_URL_ENV: base_url,
            DEMO_KEY_ENV: api_key,
            "AC_HYGIENE_DATA_DIR": str(data_dir),
            "AC_HYGIENE_DNS": f"{mail.dns_host}:{mail.dns_port}",
            "AC_HYGIENE_SMTP_PORT": str(mail.smtp_port),
        }
        running = DemoWorld(
            env=env,
            api_url=base_url,
            masked_key=ApiKey(api_key).masked(),
            dns=f"{mail.dns_host}:{mail.dns_port}",
            smtp_port=mail.smtp_port,
            app=app,
        )
        say(running.describe())
        yield running

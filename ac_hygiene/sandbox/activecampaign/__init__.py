"""A sandbox ActiveCampaign v3 API: real shapes, real limits, state in memory.

Used by the tests, the benchmarks and the demo; no product module imports it.

    account = generate_account(10_000, seed=1)     # or load_account("fixtures/small.json")
    app = create_app(account, api_key=key)          # Starlette app; app.state.sandbox.stats
    with serve_in_thread(app) as base_url: ...      # http://127.0.0.1:<port>
"""

from ac_hygiene.sandbox.activecampaign.account import SandboxAccount
from ac_hygiene.sandbox.activecampaign.app import create_app
from ac_hygiene.sandbox.activecampaign.faults import DroppedConnection, Faults
from ac_hygiene.sandbox.activecampaign.fixture import FixtureError, load_account, save_account
from ac_hygiene.sandbox.activecampaign.generator import generate_account
from ac_hygiene.sandbox.activecampaign.server import serve_in_thread
from ac_hygiene.sandbox.activecampaign.state import SandboxState

__all__ = [
    "DroppedConnection",
    "Faults",
    "FixtureError",
    "SandboxAccount",
    "SandboxState",
    "create_app",
    "generate_account",
    "load_account",
    "save_account",
    "serve_in_thread",
]

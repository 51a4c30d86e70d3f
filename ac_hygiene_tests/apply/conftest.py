"""Fixtures for the apply tests: the sandbox API on loopback (from the client tests), the ledger
databases (from the hygiene tests), and a small hand-built account with its clean plan."""

from __future__ import annotations

from ac_hygiene_tests.activecampaign.conftest import (  # noqa: F401  (fixtures)
    SANDBOX_KEY,
    _fresh_limiters,
    sandbox,
)
from ac_hygiene_tests.hygiene.conftest import db_url, pg_url, sqlite_url  # noqa: F401

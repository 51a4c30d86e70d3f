"""Fixtures shared by every test package."""

from __future__ import annotations

import os

import pytest


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """The throwaway PostgreSQL server that `./dev test` (and so `.ci/run`) starts.

    A missing server is a failure, not a skip: a skipped Postgres suite would hide exactly the
    breakage it exists to catch.
    """
    url = os.environ.get("AC_HYGIENE_TEST_PG_URL")
    if not url:
        pytest.fail("AC_HYGIENE_TEST_PG_URL is not set: run the suite with `./dev test`")
    return url

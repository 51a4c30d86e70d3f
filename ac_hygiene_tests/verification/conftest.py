"""Fixtures: the verification test world, running on loopback (one per module)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ac_hygiene.sandbox.mailworld import MailWorld, MailWorldServer, RunningMailWorld
from ac_hygiene_tests.verification.support import world_data


@pytest.fixture(scope="module")
def world() -> MailWorld:
    return MailWorld.from_dict(world_data())


@pytest.fixture(scope="module")
def running(world: MailWorld) -> Iterator[RunningMailWorld]:
    with MailWorldServer(world).run_in_thread() as running:
        yield running

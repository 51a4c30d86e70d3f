"""The account lock: one ActiveCampaign step per account at a time, handed over on release."""

import threading
from pathlib import Path

from ac_hygiene.defs.locks import account_lock, lock_name


def test_second_holder_waits_until_the_first_releases(tmp_path: Path) -> None:
    acquired = threading.Event()
    waits: list[float] = []

    def second() -> None:
        with account_lock("acme", tmp_path) as waited:
            waits.append(waited)
            acquired.set()

    with account_lock("acme", tmp_path):
        thread = threading.Thread(target=second)
        thread.start()
        assert not acquired.wait(0.5)  # still held here
        with account_lock("globex", tmp_path) as other:  # another account is independent
            assert other < 0.5
    assert acquired.wait(10)
    thread.join()
    assert waits[0] > 0.1  # it reports having waited for the holder
    assert (tmp_path / f"{lock_name('acme')}.lock").exists()

"""Kill the apply process (SIGKILL) right after the server applied its k-th request, before the
answer reaches it, then run again: every action ends applied exactly once in the account.

Exactly once is checked on what the sandbox received (every request recorded): one DELETE per
planned delete, each unsubscribing email in exactly one accepted import, and nothing else written.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections import Counter

import pytest

from ac_hygiene.hygiene.journal import ApplyJournal
from ac_hygiene_tests.apply.conftest import SANDBOX_KEY
from ac_hygiene_tests.apply.support import PLANNED_AT, build_account

PLAN = {"invalid": 300, "disposable": 12, "valid": 20, "unknown": 5}


def _worker(url, plan_path, ledger, backups, run_id, tags=False, grace=0.5):
    env = {
        "AC_TEST_GRACE": str(grace),
        **os.environ,
        "AC_TEST_KEY": SANDBOX_KEY,
        "AC_TEST_PLANNED_AT": PLANNED_AT.isoformat(),
        "AC_ALLOW_LOOPBACK": "1",
        **({"AC_TEST_TAGS": "1"} if tags else {}),
    }
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "ac_hygiene_tests.apply.apply_worker",
            url,
            str(plan_path),
            ledger,
            str(backups),
            run_id,
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _run_killed_then_resumed(
    sandbox, tmp_path, k: int, tags: bool = False, import_delay_s: float = 0.02, grace=0.5
):
    account, plan = build_account(PLAN)
    plan_path = tmp_path / "plan.parquet"
    plan.write_parquet(plan_path)
    ledger = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    backups = tmp_path / "backups"
    with sandbox(account=account, import_delay_s=import_delay_s, record_requests=True) as sb:
        state = sb.app.state.sandbox
        seen: list[str] = []
        killed = threading.Event()
        proc_box: list[subprocess.Popen] = []

        def hook(method: str, path: str) -> None:
            seen.append(f"{method} {path}")
            if len(seen) == k and proc_box:
                os.kill(proc_box[0].pid, signal.SIGKILL)
                killed.set()

        state.request_hook = hook
        proc = _worker(sb.url, plan_path, ledger, backups, "run-a", tags)
        proc_box.append(proc)
        out, err = proc.communicate(timeout=120)
        assert killed.is_set(), f"the worker finished before request {k}: {err[-2000:]}"
        assert proc.returncode == -signal.SIGKILL
        state.request_hook = None
        again = _worker(sb.url, plan_path, ledger, backups, "run-b", tags, grace)
        out, err = again.communicate(timeout=120)
        assert again.returncode == 0, err[-3000:]
        assert "unresolved=0" in out
        recorded = list(state.recorded)
    return account, plan, recorded, ledger, seen[k - 1]


def _check_exactly_once(account, plan, recorded, ledger, tags=False):
    deletes = Counter(int(r.path.rsplit("/", 1)[1]) for r in recorded if r.method == "DELETE")
    imported = Counter(
        c["email"]
        for r in recorded
        if r.path.endswith("/import/bulk_import")
        for c in r.json_body["contacts"]
    )
    other_writes = [
        r
        for r in recorded
        if r.method != "GET" and r.method != "DELETE" and not r.path.endswith("/bulk_import")
    ]
    assert other_writes == []
    for cid, email, _category, action in plan.select(
        "contact_id", "email", "category", "action"
    ).iter_rows():
        if action == "delete":
            assert cid not in account.contacts
            assert deletes[cid] == 1, (cid, deletes[cid])
        elif action == "unsubscribe":
            statuses = sorted((m.list, m.status) for m in account.memberships_of(cid))
            assert statuses == [(1, 2), (2, 2), (3, 2)]
            assert imported[email] == 1, (email, imported[email])
            if tags:
                assert "hygiene: invalid" in {account.tags[t.tag].tag for t in account.tags_of(cid)}
        else:
            assert cid in account.contacts and deletes[cid] == 0 and imported[email] == 0
            assert account.membership(cid, 1).status == 1
    with ApplyJournal(ledger) as journal:
        rows = journal.rows("acme", "2026-12|all")
    assert len(rows) == plan.height
    assert {r.state for r in rows} == {"done"}


@pytest.mark.parametrize("k", [1, 3, 4, 5, 9, 14])
def test_killed_after_kth_request_then_rerun_applies_each_action_once(sandbox, tmp_path, k):
    account, plan, recorded, ledger, _ = _run_killed_then_resumed(sandbox, tmp_path, k)
    _check_exactly_once(account, plan, recorded, ledger)


@pytest.mark.slow
@pytest.mark.parametrize("k", [2, 6, 7, 12, 18])
def test_killed_with_write_back_tags(sandbox, tmp_path, k):
    account, plan, recorded, ledger, _ = _run_killed_then_resumed(sandbox, tmp_path, k, tags=True)
    _check_exactly_once(account, plan, recorded, ledger, tags=True)


def test_a_lost_import_still_queued_is_not_sent_twice(sandbox, tmp_path):
    """Killed right after the server queued a batch (the answer lost) while the batch takes ~3 s
    to run: the re-run waits for it to land instead of reading the contacts too early and
    importing them a second time."""
    account, plan, recorded, ledger, killed = _run_killed_then_resumed(
        sandbox, tmp_path, 4, import_delay_s=1.0, grace=5.0
    )
    assert killed.endswith("/import/bulk_import")
    _check_exactly_once(account, plan, recorded, ledger)

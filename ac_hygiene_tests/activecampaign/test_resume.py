"""A killed extraction resumes from its checkpoint: nothing skipped, nothing fetched twice."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from polars.testing import assert_frame_equal

from ac_hygiene.activecampaign.contacts import PageProgress, extract_contacts_sync
from ac_hygiene_tests.activecampaign.conftest import SANDBOX_KEY, expected_contacts

CONTACTS = 2000  # 20 pages


def _pages_stored(checkpoint_dir: Path) -> int:
    try:
        return json.loads((checkpoint_dir / "state.json").read_text())["pages"]
    except (FileNotFoundError, ValueError, KeyError):
        return 0


def test_killed_extraction_resumes_where_it_stopped(sandbox, tmp_path: Path) -> None:
    checkpoint_dir = tmp_path / "checkpoint"
    out = tmp_path / "never-written.parquet"
    with sandbox(contacts=CONTACTS, seed=8) as sb:
        worker = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "ac_hygiene_tests.activecampaign.extract_worker",
                sb.url,
                str(checkpoint_dir),
                str(out),
                "8",  # 8 pages a second: 20 pages take 2.5 s, time enough to kill it
            ],
            env={**os.environ, "AC_ALLOW_LOOPBACK": "1", "AC_API_KEY": SANDBOX_KEY},
        )
        try:
            deadline = time.monotonic() + 60
            while _pages_stored(checkpoint_dir) < 5:
                assert worker.poll() is None, "the worker ended before it could be killed"
                assert time.monotonic() < deadline, "the worker stored no pages"
                time.sleep(0.02)
            worker.kill()  # SIGKILL: no cleanup, no atexit, mid-request or mid-write
            worker.wait(10)
        finally:
            if worker.poll() is None:
                worker.kill()
        assert not out.exists()
        stored = _pages_stored(checkpoint_dir)
        assert 5 <= stored < 20
        requests_before = sb.stats.requests["GET /api/3/contacts"]

        progress: list[PageProgress] = []
        frame = extract_contacts_sync(
            sb.connection(),
            "all",
            checkpoint_dir=checkpoint_dir,
            rate=500,
            progress=progress.append,
        )
        assert_frame_equal(frame, expected_contacts(sb.account))
        assert progress[0].resumed_pages == stored
        assert progress[0].pages == stored + 1
        # Only the pages after the checkpoint were asked for again (plus the final short page).
        requests_after = sb.stats.requests["GET /api/3/contacts"] - requests_before
        assert requests_after <= 20 - stored + 2

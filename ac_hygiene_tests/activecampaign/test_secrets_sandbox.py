"""The API key never shows up in exceptions, logs, reprs or files, on any path."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from ac_hygiene.activecampaign.client import ActiveCampaignClient
from ac_hygiene.activecampaign.contacts import extract_contacts_sync
from ac_hygiene.activecampaign.errors import AuthenticationFailed
from ac_hygiene.activecampaign.reads import account_summary
from ac_hygiene.sandbox.activecampaign import Faults
from ac_hygiene_tests.activecampaign.conftest import SANDBOX_KEY

WRONG_KEY = "deadbeef" * 9


def _assert_absent(text: str, *keys: str) -> None:
    for key in keys:
        assert key not in text
        assert key[:-4] not in text


async def test_a_refused_key_leaks_nowhere(sandbox, caplog: pytest.LogCaptureFixture) -> None:
    with sandbox(contacts=5) as sb, caplog.at_level(logging.DEBUG):
        connection = sb.connection(WRONG_KEY)
        async with ActiveCampaignClient(connection) as client:
            with pytest.raises(AuthenticationFailed) as excinfo:
                await account_summary(client)
            logging.getLogger("test").exception("failed", exc_info=excinfo.value)
        assert sb.stats.auth_failures == 2  # retried once: the API's 403s can be intermittent
    error = excinfo.value
    for text in (str(error), repr(error), repr(client), repr(connection), caplog.text):
        _assert_absent(text, WRONG_KEY)


def test_faulty_extraction_logs_and_files_hold_no_key(
    sandbox, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    faults = Faults(p_500=0.05, p_503=0.05, p_drop=0.05, p_truncated=0.05, seed=3)
    checkpoint_dir = tmp_path / "cp"
    seen_files: list[bytes] = []

    def snoop(_progress: object) -> None:  # read the checkpoint files while they exist
        seen_files.extend(p.read_bytes() for p in checkpoint_dir.iterdir())

    with sandbox(contacts=600, faults=faults) as sb, caplog.at_level(logging.DEBUG):
        frame = extract_contacts_sync(
            sb.connection(), "all", checkpoint_dir=checkpoint_dir, rate=500, progress=snoop
        )
    out = tmp_path / "contacts.parquet"
    frame.write_parquet(out)
    assert seen_files
    assert "retry" in caplog.text  # the faults did go through the logged retry path
    _assert_absent(caplog.text, SANDBOX_KEY)
    for blob in [*seen_files, out.read_bytes()]:
        assert SANDBOX_KEY.encode() not in blob

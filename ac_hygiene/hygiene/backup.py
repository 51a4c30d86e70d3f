"""Durable backups of contacts about to be deleted (a delete cannot be undone in ActiveCampaign).

One JSON Lines file per connection and run, `<data dir>/backups/<connection>/<run id>.jsonl`:
each line is one contact in full (name, phone, list memberships with their statuses, tag ids,
custom field values). A line is appended and **fsynced before the delete is sent**, so a crash
at any point never leaves a deleted contact without its backup. No credential is ever written.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from ac_hygiene.activecampaign.writes import ContactRecord

_SAFE = re.compile(r"[^A-Za-z0-9_.-]")


def backup_path(backups_dir: Path, connection: str, run_id: str) -> Path:
    return Path(backups_dir) / _SAFE.sub("_", connection) / f"{_SAFE.sub('_', run_id)}.jsonl"


class BackupWriter:
    """Append-only, fsync per record; the directory entry is synced when the file is created."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._handle: object | None = None

    def write(self, record: ContactRecord, partition: str) -> None:
        if self._handle is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            created = not self.path.exists()
            self._handle = open(self.path, "a", encoding="utf-8")  # noqa: SIM115
            if created:
                _fsync_dir(self.path.parent)
        line = json.dumps(
            {
                "partition": partition,
                "backed_up_at": datetime.now(UTC).isoformat(),
                "contact": record.to_json(),
            },
            ensure_ascii=False,
        )
        handle = self._handle
        handle.write(line + "\n")  # type: ignore[attr-defined]
        handle.flush()  # type: ignore[attr-defined]
        os.fsync(handle.fileno())  # type: ignore[attr-defined]

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()  # type: ignore[attr-defined]
            self._handle = None


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def read_backup(path: Path) -> Iterator[ContactRecord]:
    """Every contact of a backup file (the last copy of a contact wins when re-run twice).

    A torn last line (the process died while writing it) is ignored: its delete was not sent.
    """
    latest: dict[int, ContactRecord] = {}
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            try:
                data = json.loads(line)
            except ValueError:
                continue
            record = ContactRecord.from_json(data["contact"])
            latest[record.contact_id] = record
    yield from latest.values()

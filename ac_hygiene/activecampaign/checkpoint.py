"""A resumable extraction: the pages fetched so far and the last contact id, on disk.

Keyset paging (`id_greater=<last id>`) makes resumption exact: after a crash the extraction asks
for the contacts after the last id it *stored*, so nothing is skipped and nothing is fetched twice.
For that the order of writes matters: each page goes to its own Parquet part file first (written
to a temporary name, flushed, renamed), and only then the small JSON state file that counts it is
atomically replaced. A crash between the two leaves an orphan part that the state does not count
and that the resumed run overwrites.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import polars as pl

log = logging.getLogger(__name__)

_STATE = "state.json"
_FORMAT = 1


@dataclass
class CheckpointState:
    key: str
    last_id: int = 0
    pages: int = 0
    rows: int = 0
    format: int = _FORMAT


def _fsync_replace(tmp: Path, final: Path) -> None:
    with open(tmp, "rb+") as handle:
        os.fsync(handle.fileno())
    os.replace(tmp, final)
    with contextlib.suppress(OSError):  # not every filesystem lets a directory be fsynced
        dir_fd = os.open(final.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


class Checkpoint:
    """Pages of one extraction under `directory`, valid only for the same `key`.

    The key identifies what is extracted (account, segment, filters); a checkpoint left by a
    different extraction is discarded rather than mixed in.
    """

    def __init__(self, directory: str | os.PathLike[str], key: str) -> None:
        self.directory = Path(directory)
        self.key = key
        self.state = self._load()

    def __repr__(self) -> str:
        return f"Checkpoint({str(self.directory)!r}, pages={self.state.pages})"

    @property
    def resumed(self) -> bool:
        return self.state.pages > 0

    def _part(self, page: int) -> Path:
        return self.directory / f"page-{page:06d}.parquet"

    def _load(self) -> CheckpointState:
        path = self.directory / _STATE
        try:
            raw = json.loads(path.read_text())
            state = CheckpointState(**raw)
        except FileNotFoundError:
            return CheckpointState(self.key)
        except (ValueError, TypeError) as exc:
            log.warning("checkpoint %s is unreadable (%s); starting over", path, exc)
            return CheckpointState(self.key)
        if state.key != self.key or state.format != _FORMAT:
            log.warning("checkpoint %s belongs to another extraction; starting over", path)
            return CheckpointState(self.key)
        missing = [p for p in range(state.pages) if not self._part(p).exists()]
        if missing:
            log.warning("checkpoint %s lost %d part files; starting over", path, len(missing))
            return CheckpointState(self.key)
        return state

    def record_page(self, frame: pl.DataFrame, last_id: int) -> None:
        """Persist one page, then count it: the order that makes a crash harmless."""
        self.directory.mkdir(parents=True, exist_ok=True)
        page = self.state.pages
        part = self._part(page)
        tmp = part.with_suffix(".parquet.tmp")
        frame.write_parquet(tmp)
        _fsync_replace(tmp, part)
        new_state = CheckpointState(
            key=self.key, last_id=last_id, pages=page + 1, rows=self.state.rows + frame.height
        )
        state_tmp = self.directory / (_STATE + ".tmp")
        state_tmp.write_text(json.dumps(asdict(new_state)))
        _fsync_replace(state_tmp, self.directory / _STATE)
        self.state = new_state

    def frames(self) -> list[pl.DataFrame]:
        """The stored pages, in order."""
        return [pl.read_parquet(self._part(page)) for page in range(self.state.pages)]

    def clear(self) -> None:
        """Forget everything (after the extraction's result has been handed over)."""
        if self.directory.exists():
            for path in self.directory.iterdir():
                if path.name == _STATE or path.name.startswith("page-"):
                    path.unlink(missing_ok=True)
            with contextlib.suppress(OSError):
                self.directory.rmdir()
        self.state = CheckpointState(self.key)

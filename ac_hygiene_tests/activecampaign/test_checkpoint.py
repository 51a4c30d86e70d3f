from __future__ import annotations

import json
from pathlib import Path

import polars as pl

from ac_hygiene.activecampaign.checkpoint import Checkpoint


def _page(start: int, n: int = 3) -> pl.DataFrame:
    return pl.DataFrame({"contact_id": list(range(start, start + n)), "v": ["x"] * n})


def test_pages_survive_a_new_process(tmp_path: Path) -> None:
    first = Checkpoint(tmp_path / "cp", "k1")
    assert not first.resumed
    first.record_page(_page(1), last_id=3)
    first.record_page(_page(4), last_id=6)
    again = Checkpoint(tmp_path / "cp", "k1")
    assert again.resumed
    assert (again.state.last_id, again.state.pages, again.state.rows) == (6, 2, 6)
    assert pl.concat(again.frames())["contact_id"].to_list() == [1, 2, 3, 4, 5, 6]


def test_a_part_written_but_not_counted_is_ignored_then_overwritten(tmp_path: Path) -> None:
    checkpoint = Checkpoint(tmp_path, "k")
    checkpoint.record_page(_page(1), last_id=3)
    # A crash after the part file was renamed but before the state was replaced:
    _page(4).write_parquet(tmp_path / "page-000001.parquet")
    resumed = Checkpoint(tmp_path, "k")
    assert resumed.state.pages == 1
    assert resumed.state.last_id == 3
    resumed.record_page(_page(4, 2), last_id=5)
    assert pl.concat(resumed.frames())["contact_id"].to_list() == [1, 2, 3, 4, 5]


def test_another_extraction_or_a_damaged_state_starts_over(tmp_path: Path) -> None:
    Checkpoint(tmp_path, "segment-a").record_page(_page(1), last_id=3)
    assert not Checkpoint(tmp_path, "segment-b").resumed
    (tmp_path / "state.json").write_text("{not json")
    assert not Checkpoint(tmp_path, "segment-a").resumed
    state = {"key": "segment-a", "last_id": 9, "pages": 4, "rows": 12, "format": 1}
    (tmp_path / "state.json").write_text(json.dumps(state))  # counts parts that do not exist
    assert not Checkpoint(tmp_path, "segment-a").resumed


def test_clear_removes_everything(tmp_path: Path) -> None:
    checkpoint = Checkpoint(tmp_path / "cp", "k")
    checkpoint.record_page(_page(1), last_id=3)
    checkpoint.clear()
    assert not (tmp_path / "cp").exists()
    assert not Checkpoint(tmp_path / "cp", "k").resumed
    assert not list(tmp_path.glob("**/*.tmp"))

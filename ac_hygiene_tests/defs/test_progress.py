"""The extraction's closing line says where the contacts came from (issue 13, item 5)."""

from __future__ import annotations

from ac_hygiene.activecampaign.contacts import PageProgress
from ac_hygiene.defs.progress import PageLogger


def _page(pages: int, contacts: int, resumed: int) -> PageProgress:
    return PageProgress("all", pages, contacts, 2_000, contacts, resumed)


def test_every_page_read_now() -> None:
    logger = PageLogger(lambda _line: None, "demo all")
    for n in range(1, 21):
        logger(_page(n, n * 100, 0))
    assert (logger.read, logger.resumed) == (20, 0)
    assert logger.summary(2_000, 4.04) == "demo all: 2,000 contacts in 20 pages, 4.0 s"


def test_every_page_from_the_checkpoint_is_not_zero_pages() -> None:
    logger = PageLogger(lambda _line: None, "demo all")  # no page was read: never called
    line = logger.summary(2_000, 0.3)
    assert "0 pages" not in line
    assert line == (
        "demo all: 2,000 contacts, all from the checkpoint of an interrupted attempt "
        "(no page read from ActiveCampaign this time), 0.3 s"
    )


def test_partly_resumed() -> None:
    logger = PageLogger(lambda _line: None, "demo all")
    for n in range(13, 21):
        logger(_page(n, n * 100, 12))
    assert logger.summary(2_000, 1.0) == (
        "demo all: 2,000 contacts in 20 pages (8 read now, 12 resumed from the checkpoint of "
        "an interrupted attempt), 1.0 s"
    )


def test_an_empty_segment() -> None:
    logger = PageLogger(lambda _line: None, "demo list-9")
    assert logger.summary(0, 0.2) == "demo list-9: 0 contacts in 0 pages, 0.2 s"

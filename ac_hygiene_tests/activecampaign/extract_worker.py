"""A separate process that extracts a segment with a checkpoint: the resume test kills it.

AC_API_KEY=... python -m ac_hygiene_tests.activecampaign.extract_worker URL CHECKPOINT OUT RATE
"""

from __future__ import annotations

import os
import sys

from ac_hygiene.activecampaign.contacts import extract_contacts_sync
from ac_hygiene.activecampaign.credentials import Connection


def main(argv: list[str]) -> None:
    url, checkpoint_dir, out, rate = argv
    connection = Connection.from_raw("worker", url, os.environ["AC_API_KEY"])
    frame = extract_contacts_sync(
        connection, "all", checkpoint_dir=checkpoint_dir, rate=float(rate)
    )
    frame.write_parquet(out)


if __name__ == "__main__":
    main(sys.argv[1:])

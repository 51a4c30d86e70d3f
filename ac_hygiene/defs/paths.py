"""Where things live by default, overridable through the environment.

Read when a run starts (never when the definitions load), so that the code server, the run
workers and `ac-hygiene demo` all agree as long as they share the environment and working
directory, and so that a URL holding a password never becomes part of a definition shown in the UI.
"""

from __future__ import annotations

import os
from pathlib import Path

DATA_DIR_ENV = "AC_HYGIENE_DATA_DIR"
TABLES_ENV = "AC_HYGIENE_TABLES"
LEDGER_URL_ENV = "AC_HYGIENE_LEDGER_URL"


def data_dir() -> Path:
    """`$AC_HYGIENE_DATA_DIR`, else `./data` (absolute, so later chdirs cannot move it)."""
    return Path(os.environ.get(DATA_DIR_ENV) or "data").absolute()


def tables_base_path() -> str:
    """`$AC_HYGIENE_TABLES` (a path or an fsspec URL such as `s3://bucket/prefix`)."""
    return os.environ.get(TABLES_ENV) or str(data_dir() / "tables")


def checkpoint_dir(connection: str, month: str, segment: str) -> Path:
    """Extraction checkpoints: a killed extraction resumes here (always a local directory)."""
    return data_dir() / "checkpoints" / connection / month / segment


def locks_dir() -> Path:
    return data_dir() / "locks"


def ledger_url() -> str:
    """Credits ledger + verification cache: `$AC_HYGIENE_LEDGER_URL` (e.g. a PostgreSQL URL to
    scale out), else the SQLite file `<data dir>/ledger.sqlite`."""
    from ac_hygiene.hygiene.db import default_ledger_url

    return os.environ.get(LEDGER_URL_ENV) or default_ledger_url(data_dir())

"""Open the Dagster instance of `$DAGSTER_HOME` with one-line errors instead of tracebacks.

Dagster reports a missing home, a `dagster.yaml` that is not YAML, or one whose keys it does not
know with a traceback of about a hundred lines (and, for unknown keys, the whole config schema in
one line). A data team needs the file, the line and what to do.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

from ac_hygiene.cli.params import BadInput, one_line

if TYPE_CHECKING:
    import dagster as dg


class InstanceError(BadInput):
    """The Dagster home or its configuration is unusable: bad input, exit code 2."""


_FIX = "fix it, or move it away to use the default (SQLite under $DAGSTER_HOME)"


def dagster_home_dir(hint: str = "./dev sets data/dagster_home") -> Path:
    """`$DAGSTER_HOME` as an existing directory, else a one-line `ClickException`."""
    home = os.environ.get("DAGSTER_HOME", "").strip()
    if not home:
        raise InstanceError(
            f"DAGSTER_HOME is not set: point it at the instance the UI uses ({hint})."
        )
    path = Path(home)
    if not path.is_dir():
        raise InstanceError(
            f"DAGSTER_HOME={home} is not an existing directory: create it (mkdir -p) or point "
            "DAGSTER_HOME at the instance the UI uses."
        )
    return path


def check_instance_yaml(home: Path) -> None:
    """A `dagster.yaml` that cannot be read or parsed, as one line naming file and position."""
    config = home / "dagster.yaml"
    if not config.exists():
        return
    try:
        text = config.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise InstanceError(
            f"{config}: not UTF-8 text ({exc.reason} at byte {exc.start}); {_FIX}"
        ) from None
    except OSError as exc:
        raise InstanceError(f"{config}: cannot be read ({exc.strerror or exc})") from None
    from ac_hygiene.config import ConnectionsConfigError, safe_load_bounded

    try:
        document = safe_load_bounded(text, str(config))
    except ConnectionsConfigError as exc:  # an alias bomb: Dagster would expand it
        raise InstanceError(f"{exc}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or exc
        raise InstanceError(
            one_line(f"{config}: not valid YAML{where} ({problem}); {_FIX}")
        ) from None
    if document is not None and not isinstance(document, dict):
        raise InstanceError(
            f"{config}: expected a mapping of settings (storage:, run_launcher:, ...), got "
            f"{type(document).__name__}; {_FIX}"
        )
    # Dagster's own schema check, without opening any storage (no side effect, no connection).
    from dagster._core.errors import DagsterInvalidConfigError
    from dagster._core.instance.config import dagster_instance_config

    try:
        dagster_instance_config(str(home))
    except DagsterInvalidConfigError as exc:
        raise InstanceError(one_line(f"{config}: {_config_problem(str(exc))}; {_FIX}")) from None


def _config_problem(message: str) -> str:
    """The first `Error N:` of a DagsterInvalidConfigError, without the schema dump."""
    match = re.search(r"Error 1: (.*?)(?: Expected: .*)?$", one_line(message, 100_000))
    return match.group(1) if match else one_line(message)


def open_instance(hint: str = "./dev sets data/dagster_home") -> dg.DagsterInstance:
    """`DagsterInstance.get()` with every way it fails in one line (use as a context manager)."""
    import dagster as dg
    from dagster._core.errors import DagsterInvalidConfigError

    home = dagster_home_dir(hint)
    check_instance_yaml(home)
    config = home / "dagster.yaml"
    try:
        return dg.DagsterInstance.get()
    except DagsterInvalidConfigError as exc:
        raise InstanceError(one_line(f"{config}: {_config_problem(str(exc))}; {_FIX}")) from None
    except Exception as exc:  # a storage that cannot be reached, a class that cannot load...
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InstanceError(
            one_line(f"cannot open the Dagster instance in {home} ({config}): {first}")
        ) from None

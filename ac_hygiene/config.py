"""Which ActiveCampaign accounts the code location serves: the connections file.

A data team usually cleans several accounts (brands, regions, clients), so connections are listed
in one YAML file and each becomes its own set of assets, partitions and sensor. The file holds
*names* of environment variables, never the URL or key themselves, so it can be committed and
shown in the Dagster UI; the values are read only when an asset runs.

Where the file is looked for, first match wins:

1. `$AC_HYGIENE_CONNECTIONS` (a path; it must exist),
2. `./connections.yaml`,
3. no file but `AC_API_URL` set: one connection (named `$AC_CONNECTION_NAME`, default `default`)
   from `AC_API_URL` / `AC_API_KEY`,
4. nothing at all: the `demo` connection that `ac-hygiene demo` points at its sandbox (through
   `AC_HYGIENE_DEMO_API_URL` / `AC_HYGIENE_DEMO_API_KEY`), so a fresh clone's `dagster dev` shows
   the demo's lineage and runs.

This module knows nothing of Dagster: it parses and validates, with messages that name the file,
the entry and the fix.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from ac_hygiene.hygiene.policy import CleanPolicy, PolicyError

CONNECTIONS_ENV = "AC_HYGIENE_CONNECTIONS"
DEFAULT_CONNECTIONS_FILE = Path("connections.yaml")
DEFAULT_THRESHOLD = 100_000
#: First month of the month dimension when a connection names none: a fixed date (never "some
#: months ago"), so a month already run never slides out of the UI. Set `start_month` to the month
#: the account was connected to show no empty months before it.
DEFAULT_START_MONTH = "2026-01"
DEMO_CONNECTION = "demo"
DEMO_URL_ENV = "AC_HYGIENE_DEMO_API_URL"
DEMO_KEY_ENV = "AC_HYGIENE_DEMO_API_KEY"

SegmentBy = Literal["tag", "list"]

# Connection names become asset key prefixes, op names and partition set names: Dagster allows
# only letters, digits and underscores there.
_NAME = re.compile(r"[a-z][a-z0-9_]{0,39}")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_KEYS = (
    "name",
    "api_url_env",
    "api_key_env",
    "segment_by",
    "threshold",
    "start_month",
    "policy",
    "auto_apply",
)
_MONTH = re.compile(r"(19|20|21)[0-9]{2}-(0[1-9]|1[0-2])")
_EXAMPLE = """connections:
  - name: acme
    api_url_env: ACME_AC_API_URL
    api_key_env: ACME_AC_API_KEY
    segment_by: tag          # or list: how accounts over the threshold are split
    threshold: 100000        # contacts; at or over it, one run per tag (or list)
    start_month: 2026-01     # first month shown in the UI (the month you connected the account)
    policy: {invalid: unsubscribe, disposable: delete}
    auto_apply: false"""


class ConnectionsConfigError(ValueError):
    """The connections file (or the environment standing in for it) is not usable."""


@dataclass(frozen=True)
class ConnectionSettings:
    """One account as configured: where its credentials are, and how it is cleaned."""

    name: str
    api_url_env: str
    api_key_env: str
    segment_by: SegmentBy = "tag"
    threshold: int = DEFAULT_THRESHOLD
    start_month: str = DEFAULT_START_MONTH
    policy: CleanPolicy = field(default_factory=CleanPolicy)
    auto_apply: bool = False


@dataclass(frozen=True)
class ConnectionsConfig:
    """Every configured connection, and where they came from (shown in errors and the UI)."""

    connections: tuple[ConnectionSettings, ...]
    source: str

    def get(self, name: str) -> ConnectionSettings:
        for settings in self.connections:
            if settings.name == name:
                return settings
        known = ", ".join(s.name for s in self.connections)
        raise KeyError(f"no connection named {name!r} in {self.source} (known: {known})")


def _fail(source: str, where: str, problem: str) -> ConnectionsConfigError:
    return ConnectionsConfigError(f"{source}: {where}: {problem}")


def _env_name(raw: Any, source: str, where: str, key: str) -> str:
    if not isinstance(raw, str) or not _ENV_NAME.fullmatch(raw):
        raise _fail(
            source,
            where,
            f"`{key}` must be the NAME of an environment variable (e.g. ACME_AC_API_KEY), "
            f"got {raw!r}. Put the value itself in the environment, never in this file.",
        )
    return raw


def _parse_entry(raw: Any, index: int, source: str) -> ConnectionSettings:
    where = f"connection #{index + 1}"
    if not isinstance(raw, Mapping):
        raise _fail(source, where, f"expected a mapping like:\n{_EXAMPLE}")
    name = raw.get("name")
    if isinstance(name, str):
        where = f"connection {name!r}"
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise _fail(
            source,
            where,
            f"`name` must be 1-40 lowercase letters, digits or underscores starting with a letter "
            f"(it prefixes asset keys), got {name!r}",
        )
    unknown = sorted(set(map(str, raw)) - set(_KEYS))
    if unknown:
        raise _fail(
            source, where, f"unknown key(s) {', '.join(unknown)}; allowed: {', '.join(_KEYS)}"
        )
    for key in ("api_url_env", "api_key_env"):
        if key not in raw:
            raise _fail(source, where, f"`{key}` is missing")
    segment_by = raw.get("segment_by", "tag")
    if segment_by not in ("tag", "list"):
        raise _fail(source, where, f"`segment_by` must be `tag` or `list`, got {segment_by!r}")
    threshold = raw.get("threshold", DEFAULT_THRESHOLD)
    if isinstance(threshold, bool) or not isinstance(threshold, int) or threshold < 1:
        raise _fail(
            source, where, f"`threshold` must be a positive number of contacts, got {threshold!r}"
        )
    start_month = raw.get("start_month", DEFAULT_START_MONTH)
    if not isinstance(start_month, str) or not _MONTH.fullmatch(start_month):
        raise _fail(
            source,
            where,
            f"`start_month` must be a month written YYYY-MM (e.g. 2026-01), got {start_month!r}",
        )
    auto_apply = raw.get("auto_apply", False)
    if not isinstance(auto_apply, bool):
        raise _fail(source, where, f"`auto_apply` must be true or false, got {auto_apply!r}")
    raw_policy = raw.get("policy")
    try:
        # An empty `policy:` means the defaults; `false`, `0` or `""` is a mistake, not "none".
        policy = CleanPolicy.from_mapping({} if raw_policy is None else raw_policy)
    except PolicyError as exc:
        raise _fail(source, where, f"`policy`: {exc}") from None
    api_url_env = _env_name(raw["api_url_env"], source, where, "api_url_env")
    api_key_env = _env_name(raw["api_key_env"], source, where, "api_key_env")
    if api_url_env == api_key_env:
        raise _fail(
            source,
            where,
            f"`api_url_env` and `api_key_env` both name {api_url_env}: the URL and the key need "
            "a variable each (e.g. ACME_AC_API_URL and ACME_AC_API_KEY)",
        )
    return ConnectionSettings(
        name=name,
        api_url_env=api_url_env,
        api_key_env=api_key_env,
        segment_by=segment_by,
        threshold=threshold,
        start_month=start_month,
        policy=policy,
        auto_apply=auto_apply,
    )


def parse_connections(document: Any, source: str) -> ConnectionsConfig:
    """Validate a parsed YAML document (`{connections: [...]}` or a bare list)."""
    entries = document.get("connections") if isinstance(document, Mapping) else document
    if isinstance(document, Mapping) and set(document) - {"connections"}:
        extra = ", ".join(sorted(map(str, set(document) - {"connections"})))
        raise _fail(source, "top level", f"unknown key(s) {extra}; expected only `connections`")
    if not isinstance(entries, Sequence) or isinstance(entries, str) or not entries:
        raise _fail(
            source, "top level", f"expected a non-empty `connections` list, e.g.:\n{_EXAMPLE}"
        )
    connections = tuple(_parse_entry(raw, i, source) for i, raw in enumerate(entries))
    seen: set[str] = set()
    for settings in connections:
        if settings.name in seen:
            raise _fail(source, f"connection {settings.name!r}", "this name is used twice")
        seen.add(settings.name)
    return ConnectionsConfig(connections=connections, source=source)


def load_connections_file(path: Path | str) -> ConnectionsConfig:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConnectionsConfigError(
            f"connections file {path} does not exist (set {CONNECTIONS_ENV} to an existing file, "
            "or unset it to use ./connections.yaml or AC_API_URL / AC_API_KEY)"
        ) from None
    except IsADirectoryError:
        raise ConnectionsConfigError(
            f"connections file {path} is a directory: point {CONNECTIONS_ENV} at the YAML file "
            "itself (e.g. connections.yaml)"
        ) from None
    except UnicodeDecodeError as exc:
        raise ConnectionsConfigError(
            f"{path}: not a UTF-8 text file ({exc.reason} at byte {exc.start}); save it as "
            "UTF-8 YAML"
        ) from None
    except OSError as exc:
        raise ConnectionsConfigError(
            f"connections file {path} cannot be read: {exc.strerror or exc} (check its "
            "permissions for the user running Dagster)"
        ) from None
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConnectionsConfigError(f"{path}: not valid YAML: {exc}") from None
    return parse_connections(document, str(path))


def load_connections(
    env: Mapping[str, str] | None = None, cwd: Path | None = None
) -> ConnectionsConfig:
    """The connections in force (see the module docstring for the order of precedence)."""
    env = os.environ if env is None else env
    cwd = Path.cwd() if cwd is None else cwd
    explicit = env.get(CONNECTIONS_ENV, "").strip()
    if explicit:
        return load_connections_file(cwd / explicit)
    if (cwd / DEFAULT_CONNECTIONS_FILE).is_file():
        return load_connections_file(cwd / DEFAULT_CONNECTIONS_FILE)
    if env.get("AC_API_URL", "").strip():
        name = env.get("AC_CONNECTION_NAME", "").strip() or "default"
        document = [{"name": name, "api_url_env": "AC_API_URL", "api_key_env": "AC_API_KEY"}]
        try:
            return parse_connections(document, "environment (AC_API_URL / AC_API_KEY)")
        except ConnectionsConfigError as exc:
            raise ConnectionsConfigError(
                f"{exc} (the name comes from AC_CONNECTION_NAME: set it to e.g. `my_account`, "
                "or unset it for `default`)"
            ) from None
    return demo_connections()


def demo_connections() -> ConnectionsConfig:
    """The single sandbox connection of `ac-hygiene demo`."""
    settings = ConnectionSettings(
        name=DEMO_CONNECTION, api_url_env=DEMO_URL_ENV, api_key_env=DEMO_KEY_ENV
    )
    return ConnectionsConfig(connections=(settings,), source="built-in demo connection")

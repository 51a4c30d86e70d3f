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
the entry and the fix. The YAML is read with the safe loader and its aliases bounded
(`safe_load_bounded`: a 255-byte alias bomb would otherwise expand to half a million values and
print a 25 MB error), and values quoted in messages are shortened.
"""

from __future__ import annotations

import os
import re
import reprlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from ac_hygiene.hygiene.apply import WriteBack
from ac_hygiene.hygiene.guardrails import DEFAULT_MAX_CHANGE_SHARE
from ac_hygiene.hygiene.policy import CATEGORIES, CleanPolicy, PolicyError

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
    "new_contacts",
    "write_back",
    "max_change_share",
)
_NEW_CONTACTS_KEYS = ("interval_hours", "overlap_minutes")
DEFAULT_NEW_CONTACTS_INTERVAL_HOURS = 6.0
DEFAULT_NEW_CONTACTS_OVERLAP_MINUTES = 15
#: Shortest watch interval: each tick costs requests of the account's 5/s, shared with everything.
MIN_NEW_CONTACTS_INTERVAL_HOURS = 0.25
DEFAULT_TAG_PREFIX = "ac-hygiene: "
_MONTH = re.compile(r"(19|20|21)[0-9]{2}-(0[1-9]|1[0-2])")
_EXAMPLE = """connections:
  - name: acme
    api_url_env: ACME_AC_API_URL
    api_key_env: ACME_AC_API_KEY
    segment_by: tag          # or list: how accounts over the threshold are split
    threshold: 100000        # contacts; at or over it, one run per tag (or list)
    start_month: 2026-01     # first month shown in the UI (the month you connected the account)
    policy: {invalid: unsubscribe, disposable: delete}
    auto_apply: false
    new_contacts: {interval_hours: 6, overlap_minutes: 15}   # the new-contacts watch"""


class ConnectionsConfigError(ValueError):
    """The connections file (or the environment standing in for it) is not usable."""


@dataclass(frozen=True)
class NewContactsSettings:
    """The new-contacts watch of a connection (its sensor is off until started in the UI).

    interval_hours: how often the sensor reads what changed; overlap_minutes: how far back each
    window reaches into the previous one, so that clock skew between ActiveCampaign and us and
    writes in the very second a window closed are read again rather than lost.
    """

    interval_hours: float = DEFAULT_NEW_CONTACTS_INTERVAL_HOURS
    overlap_minutes: int = DEFAULT_NEW_CONTACTS_OVERLAP_MINUTES


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
    new_contacts: NewContactsSettings = field(default_factory=NewContactsSettings)
    write_back: WriteBack = field(default_factory=WriteBack)
    max_change_share: float = DEFAULT_MAX_CHANGE_SHARE


def parse_write_back(raw: Any) -> WriteBack:
    """`write_back:` of a connection (off when absent). Raises ValueError saying what is wrong.

    `tags: true` tags each contact `ac-hygiene: <category>`; `tags: {invalid: "Bad email", ...}`
    names them (categories left out get no tag); `field: "Email status"` writes
    `<category> <YYYY-MM-DD>` to that text custom field (created when missing).
    """
    if raw is None or raw is False:
        return WriteBack()
    if not isinstance(raw, Mapping) or set(map(str, raw)) - {"tags", "field"}:
        raise ValueError(
            "`write_back` must be a mapping with `tags` (true, or {category: tag name}) and/or "
            "`field` (a custom field title)"
        )
    tags_raw = raw.get("tags", False)
    if tags_raw is True:
        tags = {c: f"{DEFAULT_TAG_PREFIX}{c}" for c in CATEGORIES}
    elif tags_raw in (False, None):
        tags = {}
    elif isinstance(tags_raw, Mapping):
        unknown = sorted(set(map(str, tags_raw)) - set(CATEGORIES))
        if unknown:
            raise ValueError(
                f"`write_back.tags`: unknown categor(ies) {', '.join(unknown)}; "
                f"known: {', '.join(CATEGORIES)}"
            )
        tags = {}
        for category, name in tags_raw.items():
            if not isinstance(name, str) or not name.strip():
                raise ValueError(f"`write_back.tags.{category}` must be a non-empty tag name")
            tags[str(category)] = name.strip()
    else:
        raise ValueError("`write_back.tags` must be true, false or {category: tag name}")
    field_raw = raw.get("field")
    if field_raw is not None and (not isinstance(field_raw, str) or not field_raw.strip()):
        raise ValueError("`write_back.field` must be the title of a text custom field")
    return WriteBack(tags=tags, field_title=field_raw.strip() if field_raw else None)


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


_REPR = reprlib.Repr()  # keyword arguments only from Python 3.12
_REPR.maxlevel, _REPR.maxlist, _REPR.maxdict, _REPR.maxtuple = 2, 4, 4, 4
_REPR.maxstring, _REPR.maxother, _REPR.maxlong = 60, 60, 40
_MAX_MESSAGE = 300
# A connections file has a few entries; more expanded nodes than this is an alias bomb (a few
# hundred bytes of `&a [*b, *b, ...]` that expand to billions of nodes).
MAX_YAML_NODES = 100_000


def _show(value: Any) -> str:
    """A value as it appears in an error message: its repr, shortened (it may be enormous)."""
    return _REPR.repr(value)


def _clip(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= _MAX_MESSAGE else flat[: _MAX_MESSAGE - 1] + "…"


def _expanded_nodes(node: yaml.Node, limit: int) -> int:
    """How many nodes the document has once every alias is expanded, stopping past `limit`.

    Sizes are memoized per node, so a bomb is measured in time proportional to its text, not
    to its expansion; a node that contains itself (a recursive alias) counts as over the limit.
    """
    sizes: dict[int, int] = {}
    busy: set[int] = set()

    def size(current: yaml.Node) -> int:
        key = id(current)
        if key in sizes:
            return sizes[key]
        if key in busy:
            return limit + 1
        busy.add(key)
        total = 1
        if isinstance(current, yaml.SequenceNode):
            children: list[yaml.Node] = list(current.value)
        elif isinstance(current, yaml.MappingNode):
            children = [part for pair in current.value for part in pair]
        else:
            children = []
        for child in children:
            total += size(child)
            if total > limit:
                break
        busy.discard(key)
        sizes[key] = total
        return total

    return size(node)


def safe_load_bounded(text: str, source: str, max_nodes: int = MAX_YAML_NODES) -> Any:
    """`yaml.safe_load` that refuses documents whose aliases expand past `max_nodes` nodes."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        if _expanded_nodes(node, max_nodes) > max_nodes:
            raise ConnectionsConfigError(
                f"{source}: the YAML expands to more than {max_nodes:,} values through its "
                "aliases (&anchor / *alias) or refers to itself; write the values out "
                "instead of nesting aliases"
            )
        return loader.construct_document(node)
    finally:
        loader.dispose()


def _fail(source: str, where: str, problem: str) -> ConnectionsConfigError:
    return ConnectionsConfigError(f"{source}: {where}: {problem}")


def _env_name(raw: Any, source: str, where: str, key: str) -> str:
    if not isinstance(raw, str) or not _ENV_NAME.fullmatch(raw):
        raise _fail(
            source,
            where,
            f"`{key}` must be the NAME of an environment variable (e.g. ACME_AC_API_KEY), "
            f"got {_show(raw)}. Put the value itself in the environment, never in this file.",
        )
    return raw


def _parse_new_contacts(raw: Any, source: str, where: str) -> NewContactsSettings:
    """The `new_contacts` mapping: absent or empty means the defaults."""
    if raw is None:
        return NewContactsSettings()
    if not isinstance(raw, Mapping):
        raise _fail(
            source,
            where,
            "`new_contacts` must be a mapping like {interval_hours: 6, overlap_minutes: 15}, "
            f"got {raw!r}",
        )
    unknown = sorted(set(map(str, raw)) - set(_NEW_CONTACTS_KEYS))
    if unknown:
        raise _fail(
            source,
            where,
            f"`new_contacts`: unknown key(s) {', '.join(unknown)}; allowed: "
            f"{', '.join(_NEW_CONTACTS_KEYS)}",
        )
    hours = raw.get("interval_hours", DEFAULT_NEW_CONTACTS_INTERVAL_HOURS)
    if (
        isinstance(hours, bool)
        or not isinstance(hours, int | float)
        or not MIN_NEW_CONTACTS_INTERVAL_HOURS <= hours <= 24 * 7
    ):
        raise _fail(
            source,
            where,
            f"`new_contacts.interval_hours` must be a number of hours from "
            f"{MIN_NEW_CONTACTS_INTERVAL_HOURS} to 168, got {hours!r}",
        )
    overlap = raw.get("overlap_minutes", DEFAULT_NEW_CONTACTS_OVERLAP_MINUTES)
    if isinstance(overlap, bool) or not isinstance(overlap, int) or overlap < 1:
        raise _fail(
            source,
            where,
            f"`new_contacts.overlap_minutes` must be a whole number of minutes, at least 1, "
            f"got {overlap!r}",
        )
    if overlap >= hours * 60:
        raise _fail(
            source,
            where,
            f"`new_contacts.overlap_minutes` ({overlap}) must be shorter than the interval "
            f"({hours} h): each window would re-read the whole previous one",
        )
    return NewContactsSettings(interval_hours=float(hours), overlap_minutes=overlap)


def _parse_entry(raw: Any, index: int, source: str) -> ConnectionSettings:
    where = f"connection #{index + 1}"
    if not isinstance(raw, Mapping):
        raise _fail(source, where, f"expected a mapping like:\n{_EXAMPLE}")
    name = raw.get("name")
    if isinstance(name, str):
        where = f"connection {_show(name)}"
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise _fail(
            source,
            where,
            f"`name` must be 1-40 lowercase letters, digits or underscores starting with a letter "
            f"(it prefixes asset keys), got {_show(name)}",
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
        raise _fail(source, where, f"`segment_by` must be `tag` or `list`, got {_show(segment_by)}")
    threshold = raw.get("threshold", DEFAULT_THRESHOLD)
    if isinstance(threshold, bool) or not isinstance(threshold, int) or threshold < 1:
        raise _fail(
            source,
            where,
            f"`threshold` must be a positive number of contacts, got {_show(threshold)}",
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
        raise _fail(source, where, f"`auto_apply` must be true or false, got {_show(auto_apply)}")
    try:
        write_back = parse_write_back(raw.get("write_back"))
    except ValueError as exc:
        raise _fail(source, where, str(exc)) from None
    share = raw.get("max_change_share", DEFAULT_MAX_CHANGE_SHARE)
    if isinstance(share, bool) or not isinstance(share, int | float) or not 0 <= share <= 1:
        raise _fail(
            source,
            where,
            f"`max_change_share` must be a share between 0 and 1 (e.g. 0.2), got {share!r}",
        )
    raw_policy = raw.get("policy")
    try:
        # An empty `policy:` means the defaults; `false`, `0` or `""` is a mistake, not "none".
        policy = CleanPolicy.from_mapping({} if raw_policy is None else raw_policy)
    except PolicyError as exc:
        raise _fail(source, where, f"`policy`: {_clip(str(exc))}") from None
    new_contacts = _parse_new_contacts(raw.get("new_contacts"), source, where)
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
        new_contacts=new_contacts,
        write_back=write_back,
        max_change_share=float(share),
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
        document = safe_load_bounded(text, str(path))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or exc
        raise ConnectionsConfigError(_clip(f"{path}: not valid YAML{where}: {problem}")) from None
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
        name=DEMO_CONNECTION,
        api_url_env=DEMO_URL_ENV,
        api_key_env=DEMO_KEY_ENV,
        # The generated sandbox account is about a fifth invalid or disposable by design (a
        # never-cleaned list), over the 20% a monthly cleaning should change.
        max_change_share=0.35,
    )
    return ConnectionsConfig(connections=(settings,), source="built-in demo connection")

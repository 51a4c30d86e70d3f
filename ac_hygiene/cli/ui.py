"""`ac-hygiene ui` and `ac-hygiene with-demo`: the demo's account stays usable after the demo.

The `demo` connection reads its sandbox from two environment variables that exist only while
something serves the sandbox. `ui` starts the demo's world (sandbox ActiveCampaign account of the
same seed and size as the last `ac-hygiene demo`, and the mail world: DNS and SMTP on loopback,
never the internet), then runs `dagster dev` on the demo's Dagster home as a child process with
those variables set: Materialize, backfills and the sensor work from the UI, for the same
contacts the demo cleaned. `with-demo COMMAND...` does the same for any command (e.g. a
`dagster asset materialize` backfill from the shell).

Ctrl-C once stops everything: the child runs in its own process group, gets one interrupt (so
`dagster dev` shuts its webserver, daemon and code server down in order), is terminated if it has
not finished after a grace period, and the servers stop last. Nothing is left running.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import click

from ac_hygiene.config import DEMO_CONNECTION

DEFAULT_PORT = 3000
SHUTDOWN_GRACE_S = 45.0
KILL_GRACE_S = 10.0


def _say(message: str) -> None:
    click.echo(f"==> {message}", err=True)


class _Stop(Exception):
    """SIGTERM, turned into an exception so the same clean shutdown runs as for Ctrl-C."""


def _raise_stop(signum: int, frame: object) -> None:
    raise _Stop


def _signal_group(child: subprocess.Popen, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(child.pid, sig)


def run_child(argv: Sequence[str], env: dict[str, str], cwd: Path) -> int:
    """Run `argv` in its own process group until it exits; Ctrl-C/SIGTERM stop it cleanly.

    Returns its exit code (130 when we stopped it on an interrupt).
    """
    # A process started in the background by a non-interactive shell inherits SIGINT ignored
    # (and would pass that on to the child): Ctrl-C or `kill -INT` must stop both, in order.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        child = subprocess.Popen(list(argv), env=env, cwd=cwd, start_new_session=True)
    except OSError as exc:
        raise click.ClickException(f"cannot start {argv[0]}: {exc.strerror or exc}") from None
    previous = signal.signal(signal.SIGTERM, _raise_stop)
    try:
        try:
            return child.wait()
        except (KeyboardInterrupt, _Stop):
            _say("stopping (this takes a few seconds; nothing is left running)")
            # Ignore further interrupts while shutting down: a second Ctrl-C must not leave the
            # child's processes orphaned.
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            try:
                child.send_signal(signal.SIGINT)
                child.wait(timeout=SHUTDOWN_GRACE_S)
            except subprocess.TimeoutExpired:
                _signal_group(child, signal.SIGTERM)
                try:
                    child.wait(timeout=KILL_GRACE_S)
                except subprocess.TimeoutExpired:
                    _signal_group(child, signal.SIGKILL)
                    child.wait()
            return 130
    finally:
        # Whatever the child left in its group (a webserver that outlived `dagster dev`) goes too.
        _signal_group(child, signal.SIGTERM)
        signal.signal(signal.SIGTERM, previous)
        signal.signal(signal.SIGINT, signal.default_int_handler)


def _prepare(data_dir: Path | None) -> tuple[Path, Path, str]:
    from ac_hygiene.cli.demo import dagster_home, ensure_instance_config
    from ac_hygiene.defs.paths import DATA_DIR_ENV

    if sys.platform == "win32":
        raise click.ClickException("the sandbox servers need Linux or macOS")
    data_dir = (data_dir or Path(os.environ.get(DATA_DIR_ENV) or "data")).absolute()
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise click.ClickException(
            f"cannot use {data_dir} as the data directory ({exc.strerror or exc}); pass a "
            "writable directory with --data-dir (or set AC_HYGIENE_DATA_DIR)"
        ) from None
    home = dagster_home(data_dir)
    linked = ensure_instance_config(home, Path("dagster.yaml"))
    return data_dir, home, linked


def _served_connections() -> str:
    from ac_hygiene.config import ConnectionsConfigError, load_connections

    try:
        config = load_connections()
    except ConnectionsConfigError as exc:
        raise click.ClickException(str(exc)) from None
    names = [c.name for c in config.connections]
    if DEMO_CONNECTION not in names:
        _say(
            f"note: the code location serves {', '.join(names)} (from {config.source}), not the "
            "demo connection; the sandbox started here is not used by it"
        )
    return ", ".join(names)


def with_demo_world(argv: Sequence[str], data_dir: Path | None) -> int:
    """Run `argv` with the demo's world up and its variables set; return its exit code."""
    from ac_hygiene.cli.sandbox_env import demo_world, load_settings

    data_dir, home, linked = _prepare(data_dir)
    contacts, seed, found = load_settings(data_dir)
    if not found:
        _say(
            f"no demo has run on {data_dir} yet: serving a fresh sandbox account "
            f"({contacts:,} contacts, seed {seed}); run `./dev demo` to fill the UI"
        )
    served = _served_connections()
    _say(f"Dagster home: {home} (dagster.yaml: {linked}); connections: {served}")
    try:
        with demo_world(contacts, seed, data_dir, say=_say) as world:
            env = {**os.environ, **world.env, "DAGSTER_HOME": str(home)}
            return run_child(argv, env, Path.cwd())
    except KeyboardInterrupt:  # during start-up: the servers are already stopped
        return 130


@click.command(name="ui")
@click.option("--port", type=click.IntRange(1, 65535), default=DEFAULT_PORT, show_default=True)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address the UI binds.")
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="The demo's data directory (default $AC_HYGIENE_DATA_DIR or ./data).",
)
def ui(port: int, host: str, data_dir: Path | None) -> None:
    """The Dagster UI on the demo's instance, with the demo's sandbox servers running."""
    dagster = Path(sys.executable).with_name("dagster")
    workspace = Path("workspace.yaml")
    if not workspace.is_file():
        raise click.ClickException(
            f"no workspace.yaml in {Path.cwd()}: run this from the project's top directory "
            "(./dev ui does)"
        )
    _say(
        f"the UI will be at http://{host}:{port} (asset group `{DEMO_CONNECTION}`); "
        "Ctrl-C stops the UI and the sandbox servers"
    )
    argv = [str(dagster), "dev", "-w", str(workspace), "-h", host, "-p", str(port)]
    code = with_demo_world(argv, data_dir)
    if code not in (0, 130):
        raise SystemExit(code)


@click.command(
    name="with-demo",
    context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False},
)
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="The demo's data directory (default $AC_HYGIENE_DATA_DIR or ./data).",
)
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
def with_demo(command: tuple[str, ...], data_dir: Path | None) -> None:
    """Run COMMAND with the demo's sandbox servers up and the `demo` connection's variables set
    (e.g. a `dagster asset materialize` backfill of one list of the demo)."""
    code = with_demo_world(command, data_dir)
    raise SystemExit(code)

"""`ac-hygiene sandbox mail`: serve a mail world (DNS + SMTP on loopback) until Ctrl-C.

Point a verifier at it with its ordinary settings: name server 127.0.0.1 at the printed DNS port,
SMTP port as printed. Nothing leaves the machine: every address of a world is in 127.0.0.0/8.
"""

from __future__ import annotations

import asyncio
import errno
import signal
from pathlib import Path

import click

from ac_hygiene.cli.params import FiniteFloat


@click.command(name="mail")
@click.option(
    "--world",
    "world_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Mail world YAML file (default: the packaged default world).",
)
@click.option(
    "--dns-port",
    type=click.IntRange(0, 65535),
    default=5053,
    show_default=True,
    help="DNS port on 127.0.0.1 (UDP and TCP); 0 picks a free one.",
)
@click.option(
    "--smtp-port",
    type=click.IntRange(0, 65535),
    default=2525,
    show_default=True,
    help="SMTP port on every mail host's address; 0 picks one free on all of them.",
)
@click.option(
    "--latency-ms",
    type=FiniteFloat(min=0),
    default=0.0,
    show_default=True,
    help="Added to every DNS answer and every SMTP reply, to model a distant network.",
)
def mail(world_path: Path | None, dns_port: int, smtp_port: int, latency_ms: float) -> None:
    """Serve the sandbox mail world: DNS and SMTP servers on loopback, until Ctrl-C."""
    from ac_hygiene.sandbox.mailworld import MailWorld, MailWorldServer, WorldError
    from ac_hygiene.sandbox.mailworld.ports import PortInUse
    from ac_hygiene.sandbox.mailworld.world import default_world_path

    path = world_path or default_world_path()
    try:
        world = MailWorld.load(path)
    except WorldError as error:
        raise click.ClickException(str(error)) from None
    server = MailWorldServer(
        world, dns_port=dns_port, smtp_port=smtp_port, latency_s=latency_ms / 1000.0
    )
    try:
        asyncio.run(_serve(server, path))
    except PortInUse as error:
        raise click.ClickException(error.strerror or str(error)) from None
    except OSError as error:
        where = f" on {error.filename}" if error.filename else ""
        hint = (
            "; ports below 1024 need root: keep the defaults or pass 0 for free ports"
            if error.errno == errno.EACCES
            else ""
        )
        raise click.ClickException(
            f"cannot start the mail world{where}: {error.strerror or error}{hint}"
        ) from None
    except KeyboardInterrupt:
        pass
    stats = server.stats.as_dict()
    click.echo(
        f"Stopped. Served {stats['dns_queries']} DNS queries, "
        f"{stats['smtp_connections']} SMTP connections, {stats['smtp_rcpts']} RCPT commands."
    )


async def _serve(server, path: Path) -> None:
    """Run until SIGINT or SIGTERM, then close every socket before returning."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    async with server as running:
        _print_running(running, path)
        await stop.wait()


def _print_running(running, path: Path) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(highlight=False)
    console.print(f"Mail world: {path}")
    console.print(f"DNS:  {running.dns_host}:{running.dns_port} (UDP and TCP)")
    console.print(f"SMTP: port {running.smtp_port} on each listening host")
    listening = {listener.address for listener in running.world.listeners}
    table = Table("host", "address", "SMTP")
    for host, address in sorted(running.host_addresses.items()):
        table.add_row(host, address, "listening" if address in listening else "nothing (refused)")
    for listener in running.world.listeners:
        if listener.address not in running.host_addresses.values():
            table.add_row(listener.label, listener.address, "listening (A record)")
    console.print(table)
    console.print("Ready. Press Ctrl-C to stop.")

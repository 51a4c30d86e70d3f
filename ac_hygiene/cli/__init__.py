"""`ac-hygiene` command line.

Each command lives in its own module and is imported only when it runs, so that a quick command
such as `check-connection` does not pay for importing Dagster or the verification engine.
"""

from __future__ import annotations

import importlib

import click

# command name -> "module:attribute" of a click command
_COMMANDS = {
    "check-connection": "ac_hygiene.cli.check_connection:check_connection",
    "verify": "ac_hygiene.cli.verify:verify",
    "demo": "ac_hygiene.cli.demo:demo",
    "register-segments": "ac_hygiene.cli.segments:register_segments",
    "credits": "ac_hygiene.cli.credits:credits_group",
    "ui": "ac_hygiene.cli.ui:ui",
    "with-demo": "ac_hygiene.cli.ui:with_demo",
    "apply": "ac_hygiene.cli.apply:apply",
    "restore": "ac_hygiene.cli.restore:restore",
    "backfill": "ac_hygiene.cli.backfill:backfill",
}
_SANDBOX_COMMANDS = {
    "serve": "ac_hygiene.cli.sandbox_serve:serve",
    "mail": "ac_hygiene.cli.sandbox_mail:mail",
}


def _load(target: str) -> click.Command:
    module_name, attribute = target.split(":")
    return getattr(importlib.import_module(module_name), attribute)


class _LazyGroup(click.Group):
    def __init__(self, *args, lazy: dict[str, str], **kwargs):
        super().__init__(*args, **kwargs)
        self._lazy = lazy

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self._lazy})

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in self._lazy:
            return _load(self._lazy[name])
        return super().get_command(ctx, name)


@click.group(cls=_LazyGroup, lazy=_COMMANDS)
@click.version_option(package_name="ac_hygiene")
def cli() -> None:
    """ActiveCampaign list hygiene: connect, verify every address, clean the list."""


@cli.group(cls=_LazyGroup, lazy=_SANDBOX_COMMANDS)
def sandbox() -> None:
    """Local stand-ins for ActiveCampaign and the mail world (loopback only)."""


def main() -> None:
    cli(prog_name="ac-hygiene")

"""`ac-hygiene verify` (being built; see the open issues)."""

import click


@click.command(name="verify")
def verify() -> None:
    """Not built yet."""
    raise click.ClickException("'verify' is not built yet")

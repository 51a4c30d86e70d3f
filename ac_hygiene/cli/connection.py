"""`ac-hygiene check-connection` (being built; see the open issues)."""

import click


@click.command(name="check-connection")
def check_connection() -> None:
    """Not built yet."""
    raise click.ClickException("'check-connection' is not built yet")

"""`ac-hygiene mail` (being built; see the open issues)."""

import click


@click.command(name="mail")
def mail() -> None:
    """Not built yet."""
    raise click.ClickException("'mail' is not built yet")

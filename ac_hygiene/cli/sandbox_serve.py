"""`ac-hygiene serve` (being built; see the open issues)."""

import click


@click.command(name="serve")
def serve() -> None:
    """Not built yet."""
    raise click.ClickException("'serve' is not built yet")

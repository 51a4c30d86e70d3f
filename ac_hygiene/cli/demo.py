"""`ac-hygiene demo` (being built; see the open issues)."""

import click


@click.command(name="demo")
def demo() -> None:
    """Not built yet."""
    raise click.ClickException("'demo' is not built yet")

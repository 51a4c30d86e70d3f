"""`ac-hygiene sandbox serve`: a sandbox ActiveCampaign API on 127.0.0.1 until Ctrl-C.

The account is generated (`--contacts`, `--seed`) or loaded from a fixture (`--account`). The API
key is never printed in full when the user chose it (it may be a real key reused by habit); a key
the sandbox generates for the run is printed, since the point is to paste it into a client.
Nothing global is set: the command prints the environment a client needs instead of exporting it.
"""

from __future__ import annotations

import asyncio
import secrets
from pathlib import Path

import click

from ac_hygiene.cli.params import BadInput, FiniteFloat, one_line

DEFAULT_PORT = 8765


def key_hint(key: str) -> str:
    """`****abcd` for keys long enough that four characters give nothing away, else `****`."""
    return "****" + (key[-4:] if len(key) >= 16 else "")


def _probability(name: str) -> click.Option:
    return click.option(
        f"--{name.replace('_', '-')}",
        name,
        type=FiniteFloat(0.0, 1.0),
        default=0.0,
        show_default=True,
        help=f"Fault injection: probability of {name.removeprefix('p_')} per request.",
    )


@click.command(name="serve")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=DEFAULT_PORT,
    show_default=True,
    help="Port on 127.0.0.1; 0 picks a free one.",
)
@click.option(
    "--contacts",
    type=click.IntRange(min=0),
    default=1000,
    show_default=True,
    help="Generate an account of this many contacts.",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Generator seed.")
@click.option("--lists", "list_count", type=click.IntRange(min=0), default=8, show_default=True)
@click.option("--tags", "tag_count", type=click.IntRange(min=0), default=10, show_default=True)
@click.option(
    "--account",
    "account_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Load the account from a fixture JSON file instead of generating one.",
)
@click.option(
    "--api-key",
    envvar="AC_SANDBOX_API_KEY",
    default=None,
    help="Key the sandbox accepts (or env AC_SANDBOX_API_KEY); default: a new one per run.",
)
@click.option(
    "--rate-limit",
    type=FiniteFloat(min=0.0),
    default=5.0,
    show_default=True,
    help="Requests per second per account; 0 disables the limit.",
)
@_probability("p_429")
@_probability("p_500")
@_probability("p_503")
@_probability("p_drop")
@_probability("p_truncated")
@_probability("p_slow")
@click.option(
    "--slow-s",
    type=FiniteFloat(min=0.0),
    default=2.0,
    show_default=True,
    help="Delay of a slow answer (with --p-slow).",
)
@click.option("--fault-seed", type=int, default=0, show_default=True)
@click.option(
    "--import-delay",
    type=FiniteFloat(min=0.0),
    default=1.0,
    show_default=True,
    help="Seconds per bulk-import stage (false, waiting, active, then completed).",
)
@click.option("--inactive", is_flag=True, help="Answer every call 402, as a lapsed plan does.")
@click.pass_context
def serve(
    ctx: click.Context,
    port: int,
    contacts: int,
    seed: int,
    list_count: int,
    tag_count: int,
    account_path: Path | None,
    api_key: str | None,
    rate_limit: float,
    p_429: float,
    p_500: float,
    p_503: float,
    p_drop: float,
    p_truncated: float,
    p_slow: float,
    slow_s: float,
    fault_seed: int,
    import_delay: float,
    inactive: bool,
) -> None:
    """Serve a sandbox ActiveCampaign API on 127.0.0.1 until Ctrl-C."""
    from ac_hygiene.sandbox.activecampaign import (
        Faults,
        FixtureError,
        create_app,
        generate_account,
        load_account,
    )
    from ac_hygiene.sandbox.activecampaign.server import bind, make_server

    if account_path is not None:
        for name in ("contacts", "seed", "list_count", "tag_count"):
            if ctx.get_parameter_source(name) is not click.core.ParameterSource.DEFAULT:
                flag = "--" + name.replace("_count", "s").replace("_", "-")
                raise click.UsageError(f"{flag} generates an account; it cannot go with --account")
    try:
        faults = Faults(
            p_429=p_429,
            p_500=p_500,
            p_503=p_503,
            p_drop=p_drop,
            p_truncated=p_truncated,
            p_slow=p_slow,
            slow_s=slow_s,
            seed=fault_seed,
        )
    except ValueError as error:
        raise click.UsageError(str(error)) from None
    if account_path is not None:
        try:
            account = load_account(account_path)
        except FixtureError as error:
            raise BadInput(one_line(error)) from None
        except UnicodeDecodeError as error:
            raise BadInput(
                f"{account_path}: not UTF-8 text ({error.reason} at byte {error.start}); an "
                "account fixture is UTF-8 JSON"
            ) from None
        except OSError as error:
            raise BadInput(f"cannot read {account_path} ({error.strerror or error})") from None
        except (ValueError, TypeError, KeyError, AttributeError) as error:
            raise BadInput(
                one_line(
                    f"{account_path}: not an account fixture ({type(error).__name__}: {error})"
                )
            ) from None
        origin = f"loaded from {account_path}"
    else:
        click.echo(f"Generating an account of {contacts:,} contacts (seed {seed})...")
        account = generate_account(contacts, seed=seed, lists=list_count, tags=tag_count)
        origin = f"generated, seed {seed}"
    if inactive:
        account.active = False

    user_key = api_key is not None and api_key.strip() != ""
    key = api_key.strip() if user_key and api_key else secrets.token_hex(36)
    app = create_app(
        account,
        api_key=key,
        rate_limit=rate_limit or None,
        faults=faults,
        import_delay_s=import_delay,
    )
    try:
        sock = bind("127.0.0.1", port)
    except OSError as error:
        raise click.ClickException(
            f"cannot listen on 127.0.0.1:{port} ({error.strerror or error}); "
            "choose another --port, or 0 for a free one"
        ) from None
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    click.echo(
        f"Sandbox ActiveCampaign: {len(account.contacts):,} contacts, {len(account.lists)} lists, "
        f"{len(account.tags)} tags ({origin})"
    )
    click.echo(f"  API URL   {url}")
    if user_key:
        click.echo(f"  API key   {key_hint(key)} (as given)")
    else:
        click.echo(f"  API key   {key}  (generated for this run)")
    limit = f"{rate_limit:g} req/s per account" if rate_limit else "off"
    click.echo(f"  limits    rate {limit}; plan {'INACTIVE (402)' if inactive else 'active'}")
    if faults.any:
        click.echo(f"  faults    {faults}")
    click.echo(f"  client    AC_API_URL={url} AC_ALLOW_LOOPBACK=1 (loopback is refused otherwise)")
    click.echo("Ctrl-C to stop.")
    server = make_server(app)
    try:
        asyncio.run(server.serve(sockets=[sock]))
    except KeyboardInterrupt:
        pass
    finally:
        sock.close()
    stats = app.state.sandbox.stats
    click.echo(
        f"Stopped. Served {stats.total_requests:,} requests; {stats.rate_limited} answered 429 by "
        f"the rate limit, {sum(stats.faults.values())} faults injected."
    )

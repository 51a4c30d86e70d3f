"""`ac-hygiene backfill`: run one (month, segment) of a connection now, e.g. a single list.

`dagster asset materialize --partition ...` does the same, but answers a malformed or unknown
partition key with a 50-line traceback. This command checks the key first and says in one line
what is wrong and what to type instead, then runs the connection's segment job (contacts ->
verifications -> clean plan, with their checks) in this process on the instance in
`$DAGSTER_HOME`, exactly as the UI's *Materialize* would. Nothing is applied to the account.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

import click

from ac_hygiene.cli.params import BadInput, one_line

_MONTH = re.compile(r"\d{4}-\d{2}")


def parse_partition(text: str, current: str) -> tuple[str, str]:
    """`MONTH|SEGMENT` -> (month, canonical segment key), or a one-line `BadInput`."""
    from ac_hygiene.activecampaign.errors import InvalidSegment
    from ac_hygiene.activecampaign.segments import parse_segment

    example = f"e.g. --partition '{current}|list-3'"
    shown = one_line(repr(text), 80)
    parts = text.split("|")
    if len(parts) != 2:
        raise BadInput(
            f"--partition {shown}: expected MONTH|SEGMENT, one `|` between them ({example})"
        )
    month, segment = (part.strip() for part in parts)
    valid_month = _MONTH.fullmatch(month) is not None
    if valid_month:
        try:
            datetime.strptime(month, "%Y-%m")
        except ValueError:
            valid_month = False
    if not valid_month:
        raise BadInput(f"--partition {shown}: the month must be YYYY-MM ({example})")
    if month != current:
        raise BadInput(
            f"--partition {shown}: only the current month ({current}) can be run, since the "
            f"account is read as it is now ({example})"
        )
    try:
        parsed = parse_segment(segment)
    except InvalidSegment as exc:
        raise BadInput(one_line(f"--partition {shown}: {exc}")) from None
    return month, parsed.key


def _metadata(result: Any, node: str) -> dict[str, Any]:
    found = result.asset_materializations_for_node(node)
    return {k: getattr(v, "value", v) for k, v in found[-1].metadata.items()} if found else {}


@click.command(name="backfill")
@click.option(
    "--connection",
    "name",
    metavar="NAME",
    default=None,
    help="A connection of the connections file (default: the only one).",
)
@click.option(
    "--partition",
    "partition",
    metavar="MONTH|SEGMENT",
    required=True,
    help="The current month and a segment: `all`, `list-<id>` or `tag-<id>`.",
)
def backfill(name: str | None, partition: str) -> None:
    """Run contacts -> verifications -> clean plan for one segment of the current month.

    The segment must be registered (by the sensor or `ac-hygiene register-segments`). Credits
    are charged as in any run (each address once a month); nothing is applied to the account.
    """
    from ac_hygiene.cli.instance import check_instance_yaml, dagster_home_dir, open_instance
    from ac_hygiene.config import ConnectionsConfigError, load_connections
    from ac_hygiene.defs.partitions import current_month

    month, segment = parse_partition(partition, current_month())
    check_instance_yaml(dagster_home_dir())
    try:
        config = load_connections()
        if name is None and len(config.connections) > 1:
            known = ", ".join(s.name for s in config.connections)
            raise BadInput(f"{config.source} has several connections: pass --connection ({known})")
        settings = config.get(name) if name else config.connections[0]
    except ConnectionsConfigError as exc:
        raise BadInput(one_line(exc)) from None
    except KeyError as exc:
        raise BadInput(one_line(exc.args[0])) from None

    import dagster as dg

    from ac_hygiene.defs.build import build_definitions
    from ac_hygiene.defs.connection_defs import segment_job_name
    from ac_hygiene.defs.local_runs import execute
    from ac_hygiene.defs.partitions import month_segment_key, segments_name

    connection = settings.name
    with open_instance() as instance:
        if not instance.has_dynamic_partition(segments_name(connection), segment):
            raise BadInput(
                f"segment {segment} of {connection} is not registered: run `ac-hygiene "
                f"register-segments --connection {connection}` first (it reads the account's "
                "lists and tags; nothing is charged)"
            )
        defs = build_definitions(config)
        request = dg.RunRequest(
            job_name=segment_job_name(connection), partition_key=month_segment_key(month, segment)
        )
        click.echo(f"==> {connection} {month}|{segment}: contacts -> verifications -> clean plan")
        result = execute(defs, instance, request)
    if not result.success:
        failures = [
            f"{e.asset_key.to_user_string()} {e.check_name}"
            for e in result.get_asset_check_evaluations()
            if not e.passed
        ] + [e.message or "" for e in result.all_events if e.is_step_failure]
        raise click.ClickException(
            one_line(f"run {result.run_id} failed: {'; '.join(failures) or 'see the UI'}", 600)
        )
    node = f"{connection}__"
    contacts = _metadata(result, node + "segment_contacts").get("contacts", 0)
    verified = _metadata(result, node + "verifications")
    plan = _metadata(result, node + "clean_plan")
    actions = ", ".join(
        f"{int(plan.get(f'action_{a}', 0)):,} {a}" for a in ("keep", "unsubscribe", "delete")
    )
    click.echo(
        f"run {result.run_id} succeeded: {int(contacts):,} contacts, "
        f"{int(verified.get('addresses', 0)):,} addresses verified, "
        f"{int(verified.get('credits_charged', 0)):,} credits charged; plan: {actions} "
        "(review it in the UI; nothing was applied)"
    )

"""Benchmark: the new-contacts watch - one sensor tick and its window run after a verified month.

    python benchmarks/new_contacts.py --quick     # 20,000 contacts; 200 added, 40 emails changed
    python benchmarks/new_contacts.py             # 100,000 contacts; 1,000 added, 200 changed

The scenario of the issue. A sandbox account (its real 5 requests/second limit, 429 beyond it) is
fully verified for the month: the month's ledger charges, result cache and address book are
produced by the monthly verify step (`defs.steps.verify_and_charge` + `remember_addresses`, the
functions the monthly `verifications` asset calls) over the account's contacts, taken from the
sandbox's records rather than read through the API (that 5 req/s read is what
`benchmarks/extract.py` measures and would only add minutes here). The watch's sensor is started
(its first tick sets the watermark, no request). Then contacts are added, existing contacts change
their email, and - to check that nothing else is touched - others change only their name. One tick
of the real sensor and its run of the real window job (new_contacts -> new_verifications ->
new_clean_plan, with their checks) on a Dagster instance follow, as the daemon would run them.

The generated account's history ends three days before the window: ActiveCampaign's date filters
are whole days, and the watch asks from two days before the window's start (see
`activecampaign.changes`), so in a live account the read also returns the contacts changed in
those margin days (one request per 100 of them); the benchmark measures the window's own cost.

Figures (last line: one JSON object):
- requests: HTTP requests the sandbox received for the tick and the run; target
  <= ceil(changed / 100) + 5, where changed = contacts added + emails changed.
  baseline_requests: a full re-read of the account (what finding the changes without the filters
  costs, 100 contacts a page).
- expected_verified / verified: the distinct new addresses vs. the addresses the run verified;
  verified_exact: the two sets are equal (the renamed contacts' addresses are not in it).
- expected_charged / charged: credits the month's ledger gained; charged_exact: the new ledger
  keys are exactly the new addresses.
- writes: non-GET requests to ActiveCampaign (auto_apply is off: must be 0).
- verdicts_correct: share of the new addresses whose status is the generator's truth (existing
  mailbox -> deliverable, unknown mailbox -> undeliverable, disposable domain -> risky).
- wall_s: the tick and its run, end to end; seed_s: verifying the month beforehand.
Timing figures are noisy on a shared machine.
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing as mp
import os
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from multiprocessing.connection import Connection as Pipe
from pathlib import Path

API_KEY = "bench" + "0123456789abcdef" * 4  # a sandbox key, not a secret
CONNECTION = "bench"
URL_ENV, KEY_ENV = "BENCH_AC_API_URL", "BENCH_AC_API_KEY"
RATE_LIMIT = 5.0


def _serve_mail(pipe: Pipe) -> None:
    """Child process: the default mail world (DNS + SMTP) until told to stop."""
    from ac_hygiene.sandbox.mailworld import MailWorld, MailWorldServer, default_world_path

    world = MailWorld.load(default_world_path())
    with MailWorldServer(world).run_in_thread() as running:
        pipe.send({"dns": f"{running.dns_host}:{running.dns_port}", "smtp": running.smtp_port})
        pipe.recv()


def _new_address(i: int) -> tuple[str, str]:
    """A unique address nobody in the account has, and the status the mail world gives it."""
    kind = i % 10
    if kind < 7:  # gmail's mailbox pattern: first.last[digits] exists
        return f"watch.new{i}@gmail.com", "deliverable"
    if kind < 9:  # not a mailbox there: 550 5.1.1
        return f"zz-nobody-{i}@gmail.com", "undeliverable"
    return f"watch{i}@mailinator.com", "risky"  # a disposable domain


def _snapshot(account, pl):
    """The month's contacts as the monthly read returns them (the columns the verify step
    uses), straight from the sandbox's records."""
    with account.lock:
        rows = [
            (c.id, c.email or None, datetime.fromtimestamp(c.udate, UTC))
            for c in account.contacts.values()
        ]
    return pl.DataFrame(
        rows,
        schema={
            "contact_id": pl.Int64,
            "email": pl.String,
            "updated_at": pl.Datetime("us", "UTC"),
        },
        orient="row",
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="20,000 contacts, 200 + 40 changes")
    parser.add_argument("--seed", type=int, default=3)
    args = parser.parse_args()
    contacts, added, moved = (20_000, 200, 40) if args.quick else (100_000, 1_000, 200)
    renamed = moved // 2

    tmp = Path(tempfile.mkdtemp(prefix="ac-new-contacts-bench-"))
    data = tmp / "data"
    (tmp / "home").mkdir()
    os.environ.update({"AC_HYGIENE_DATA_DIR": str(data), "AC_ALLOW_LOOPBACK": "1"})
    for name in ("AC_HYGIENE_TABLES", "AC_HYGIENE_LEDGER_URL", "DAGSTER_HOME"):
        os.environ.pop(name, None)

    ctx = mp.get_context("spawn")
    mail_pipe, mail_child = ctx.Pipe()
    mail = ctx.Process(target=_serve_mail, args=(mail_child,), daemon=True)
    mail.start()

    import dagster as dg
    import polars as pl

    from ac_hygiene.config import ConnectionsConfig, ConnectionSettings
    from ac_hygiene.defs.build import build_definitions
    from ac_hygiene.defs.local_runs import execute
    from ac_hygiene.defs.new_contacts_sensor import job_name, watch_tick
    from ac_hygiene.defs.partitions import current_month
    from ac_hygiene.defs.resources import VerifierResource
    from ac_hygiene.defs.steps import remember_addresses, verify_and_charge
    from ac_hygiene.hygiene.db import default_ledger_url
    from ac_hygiene.hygiene.ledger import CreditLedger
    from ac_hygiene.sandbox.activecampaign import create_app, generate_account
    from ac_hygiene.sandbox.activecampaign.server import serve_in_thread

    now = datetime.now(UTC)
    print(f"generating a sandbox account of {contacts:,} contacts...", flush=True)
    account = generate_account(contacts, seed=args.seed, as_of=now - timedelta(days=3))
    app = create_app(account, api_key=API_KEY, rate_limit=RATE_LIMIT)
    stats = app.state.sandbox.stats
    world = mail_pipe.recv()
    os.environ.update(
        {
            "AC_HYGIENE_DNS": world["dns"],
            "AC_HYGIENE_SMTP_PORT": str(world["smtp"]),
            KEY_ENV: API_KEY,
        }
    )
    # the generated account is ~20% dirty by design (over the 20% change-share guardrail)
    settings = ConnectionSettings(CONNECTION, URL_ENV, KEY_ENV, max_change_share=0.5)
    defs = build_definitions(ConnectionsConfig((settings,), source="benchmark"))
    ledger_url = default_ledger_url(data)
    month = current_month()

    with serve_in_thread(app) as url, dg.instance_for_test(temp_dir=str(tmp / "home")) as inst:
        os.environ[URL_ENV] = url
        # --- the month, verified
        started = time.monotonic()
        snapshot = _snapshot(account, pl)
        verified_month = verify_and_charge(
            snapshot.get_column("email").to_list(),
            connection=CONNECTION,
            month=month,
            run_id="monthly-seed",
            settings=VerifierResource().settings(),
            ledger_url=ledger_url,
            cache_freshness_days=30,
            reservation_ttl_minutes=30,
            log=lambda line: None,
            label="all",
        )
        remember_addresses(ledger_url, CONNECTION, snapshot)
        seed_s = time.monotonic() - started
        credits_before = CreditLedger(ledger_url).credits_used(CONNECTION, month)
        keys_before = set(CreditLedger(ledger_url).statement(CONNECTION, month)["billing_key"])
        print(
            f"month verified: {verified_month.results.height:,} addresses, "
            f"{credits_before:,} credits, {seed_s:.1f} s",
            flush=True,
        )

        def tick(cursor: str | None):
            with dg.build_sensor_context(
                instance_ref=inst.get_ref(),
                cursor=cursor,
                resources=defs.resources,
                definitions=defs,
            ) as context:
                result = watch_tick(context, settings, job_name(CONNECTION))
            for request in getattr(result, "dynamic_partitions_requests", None) or []:
                inst.add_dynamic_partitions(
                    request.partitions_def_name, list(request.partition_keys)
                )
            return result

        start = tick(None)  # the sensor is turned on: the watch starts now
        time.sleep(1.1)  # the changes come after that second

        # --- the changes
        truth: dict[str, str] = {}
        stamp = int(time.time())
        for i in range(added):
            email, status = _new_address(i)
            account.add_contact(email, "New", f"Contact{i}", cdate=stamp)
            truth[email] = status
        ids = sorted(account.contacts)[:contacts]
        step = len(ids) // (moved + renamed)
        chosen = ids[::step][: moved + renamed]
        for j, contact_id in enumerate(chosen[:moved]):
            email, status = _new_address(added + j)
            account.update_contact(contact_id, now=stamp, email=email)
            truth[email] = status
        for contact_id in chosen[moved:]:
            account.update_contact(contact_id, now=stamp, first_name="Renamed")
        writes_before = sum(n for e, n in stats.requests.items() if not e.startswith("GET"))

        # --- one tick and its run
        requests_before = stats.total_requests
        started = time.monotonic()
        result = tick(start.cursor)
        (request,) = result.run_requests
        run = execute(defs, inst, request)
        wall_s = time.monotonic() - started
        requests = stats.total_requests - requests_before
        writes = sum(n for e, n in stats.requests.items() if not e.startswith("GET"))
        if not run.success:
            sys.exit("the window run failed; see the log above")

        key = str(request.partition_key)
        tables = data / "tables" / CONNECTION
        results = pl.read_parquet(tables / "new_verifications" / f"{key}.parquet")
        seen = pl.read_parquet(tables / "new_contacts" / f"{key}.parquet")
        ledger = CreditLedger(ledger_url)
        charged = ledger.credits_used(CONNECTION, month) - credits_before
        new_keys = set(ledger.statement(CONNECTION, month)["billing_key"]) - keys_before
        statuses = dict(results.select("email", "status").iter_rows())
        correct = sum(statuses.get(email) == status for email, status in truth.items())
        renamed_ids = set(chosen[moved:])
        renamed_verified = seen.filter(
            pl.col("verify") & pl.col("contact_id").is_in(sorted(renamed_ids))
        ).height
        ledger.close()

    mail_pipe.send("stop")
    mail.join(5)
    shutil.rmtree(tmp, ignore_errors=True)

    changed = added + moved
    figures = {
        "contacts": contacts,
        "added": added,
        "emails_changed": moved,
        "renamed": renamed,
        "requests": requests,
        "requests_target": math.ceil(changed / 100) + 5,
        "baseline_requests": math.ceil((contacts + added) / 100),
        "contacts_seen": seen.height,
        "expected_verified": len(truth),
        "verified": results.height,
        "verified_exact": set(results["email"]) == set(truth),
        "renamed_verified": renamed_verified,
        "expected_charged": len(truth),
        "charged": charged,
        "charged_exact": new_keys == {e.lower() for e in truth},
        "writes": writes - writes_before,
        "verdicts_correct": round(correct / len(truth), 4),
        "wall_s": round(wall_s, 2),
        "seed_s": round(seed_s, 2),
    }
    print(
        f"window {key}: {seen.height:,} contacts seen ({added:,} added, {moved:,} emails changed, "
        f"{renamed:,} renamed); {requests} requests (target <= {figures['requests_target']}, "
        f"a full re-read {figures['baseline_requests']:,}); {results.height:,} addresses verified "
        f"for {len(truth):,} new; {charged:,} credits charged; {figures['writes']} writes; "
        f"verdicts {correct:,}/{len(truth):,} as the mail world says; {wall_s:.1f} s"
    )
    print(json.dumps(figures))


if __name__ == "__main__":
    main()

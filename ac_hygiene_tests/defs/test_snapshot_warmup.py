"""The snapshot's cache warm-up on real sandbox servers: same verdicts and charges, from the
cache; skipped when the balance cannot cover it; never the snapshot's failure."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from ac_hygiene.defs import local_runs
from ac_hygiene.defs.local_runs import execute
from ac_hygiene.defs.partitions import current_month
from ac_hygiene.defs.snapshot_warmup import WARMUP_ENV
from ac_hygiene.hygiene import SqlResultCache
from ac_hygiene.hygiene.ledger import CreditLedger
from ac_hygiene.sandbox.mailworld import MailWorld, MailWorldServer, default_world_path
from ac_hygiene_tests.defs.conftest import Sandbox, definitions, shop

pytestmark = pytest.mark.usefixtures("env")


@pytest.fixture
def fresh_mail_world(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A mail world of its own for one month's run, so that two runs meet the same greylisting
    (a world remembers who it greylisted)."""
    with MailWorldServer(MailWorld.load(default_world_path())).run_in_thread() as mail:
        monkeypatch.setenv("AC_HYGIENE_DNS", f"{mail.dns_host}:{mail.dns_port}")
        monkeypatch.setenv("AC_HYGIENE_SMTP_PORT", str(mail.smtp_port))
        yield


def metadata(result: dg.ExecuteInProcessResult, asset: str) -> dict:
    (materialization,) = result.asset_materializations_for_node(f"shop__{asset}")
    return {k: getattr(v, "value", v) for k, v in materialization.metadata.items()}


def month_run(ledger_url: str, tables: Path) -> tuple[local_runs.MonthRuns, pl.DataFrame]:
    """A segmented month (240 contacts, one run per tag + untagged) and its verifications."""
    defs = definitions(shop(threshold=100), ledger_url=ledger_url)
    with dg.instance_for_test() as instance:
        runs = local_runs.run_month(defs, instance, "shop")
    assert all(r.success for r in runs.results.values())
    month = current_month()
    checked = pl.concat(
        [
            pl.read_parquet(tables / "verifications" / month / f"{s}.parquet").with_columns(
                segment=pl.lit(s)
            )
            for s in runs.segments
        ]
    )
    return runs, checked


def charged(runs: local_runs.MonthRuns) -> dict[str, int]:
    return {
        s: metadata(runs.results[f"{s}"], "verifications")["credits_charged"] for s in runs.segments
    }


def test_the_warm_up_verifies_during_the_snapshot_and_the_segments_reuse_it(
    sandbox: Sandbox, env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tables = env / "tables" / "shop"
    with MailWorldServer(MailWorld.load(default_world_path())).run_in_thread() as mail:
        monkeypatch.setenv("AC_HYGIENE_DNS", f"{mail.dns_host}:{mail.dns_port}")
        monkeypatch.setenv("AC_HYGIENE_SMTP_PORT", str(mail.smtp_port))
        monkeypatch.setenv(WARMUP_ENV, "off")
        cold, cold_checked = month_run(f"sqlite:///{tmp_path / 'cold.sqlite'}", tables)
    with MailWorldServer(MailWorld.load(default_world_path())).run_in_thread() as mail:
        monkeypatch.setenv("AC_HYGIENE_DNS", f"{mail.dns_host}:{mail.dns_port}")
        monkeypatch.setenv("AC_HYGIENE_SMTP_PORT", str(mail.smtp_port))
        monkeypatch.delenv(WARMUP_ENV)
        warm_url = f"sqlite:///{tmp_path / 'warm.sqlite'}"
        warm, warm_checked = month_run(warm_url, tables)

    assert metadata(cold.results["snapshot"], "account_snapshot")["warmup_state"] == "skipped"
    snapshot = metadata(warm.results["snapshot"], "account_snapshot")
    assert snapshot["warmup_state"] == "warmed", snapshot
    distinct = warm_checked["email_normalized"].drop_nulls().n_unique()
    # Every address was verified while the account was read...
    assert snapshot["warmup_verified_now"] >= distinct - 1  # (invalid syntax has no key)
    assert snapshot["warmup_left_to_segments"] == 0 and snapshot["warmup_uncached"] == 0
    with SqlResultCache(warm_url) as cache:
        assert len(cache.get_many(warm_checked["email_normalized"].drop_nulls().to_list())) > 0
    # ...so the segment runs found every verdict in the cache (only an unknown, never cached,
    # is tried again), where without the warm-up the first segment to meet an address probed it.
    definite = warm_checked.filter(
        (pl.col("status") != "unknown") & pl.col("email_normalized").is_not_null()
    )
    # (The warm-up does not wait for greylisting: what it left unknown, the segments verify.)
    probed_again = definite.filter(~pl.col("from_cache"))["email_normalized"].n_unique()
    assert probed_again <= snapshot["warmup_unknown"]
    assert definite["from_cache"].mean() > 0.9
    assert not cold_checked.filter(pl.col("status") != "unknown")["from_cache"].all()

    # The same verdicts and the same charges as without the warm-up.
    key = ["segment", "email"]
    pair = cold_checked.select(*key, "status", "reason").join(
        warm_checked.select(*key, "status", "reason"), on=key, how="full", suffix="_warm"
    )
    assert pair.height == cold_checked.height == warm_checked.height
    assert (pair["status"] == pair["status_warm"]).all()
    assert (pair["reason"] == pair["reason_warm"]).all()
    assert charged(warm) == charged(cold)
    assert (
        metadata(warm.results["report"], "hygiene_report")["credits_used"]
        == metadata(cold.results["report"], "hygiene_report")["credits_used"]
        > 0
    )


def test_a_balance_short_of_the_account_skips_the_warm_up(
    sandbox: Sandbox, tmp_path: Path, fresh_mail_world: None
) -> None:
    url = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    with CreditLedger(url) as credits:
        credits.top_up("shop", 50)  # the account has 240 contacts
    defs = definitions(shop(), ledger_url=url)
    with dg.instance_for_test() as instance:
        result = execute(
            defs,
            instance,
            dg.RunRequest(job_name="shop__snapshot_job", partition_key=current_month()),
        )
        said = [e.user_message for e in instance.all_logs(result.run_id)]
    assert result.success
    snapshot = metadata(result, "account_snapshot")
    assert snapshot["warmup_state"] == "skipped"
    assert "50 credits" in snapshot["warmup_reason"]
    assert snapshot["warmup_verified_now"] == 0
    assert snapshot["contacts"] == len(sandbox.account.contacts)
    with CreditLedger(url) as credits:
        assert credits.account("shop", current_month()).balance == 50  # nothing taken
    assert any("no warm-up" in m for m in said)  # said so in the run's log


def test_a_failed_warm_up_leaves_the_snapshot_and_the_month_successful(
    sandbox: Sandbox,
    env: Path,
    tmp_path: Path,
    fresh_mail_world: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from ac_hygiene.hygiene import warmup

    def broken(*_args: object, **_kwargs: object) -> pl.DataFrame:
        raise OSError("network is unreachable")

    monkeypatch.setattr(warmup, "verify_emails", broken)
    runs, checked = month_run(f"sqlite:///{tmp_path / 'ledger.sqlite'}", env / "tables" / "shop")
    snapshot = metadata(runs.results["snapshot"], "account_snapshot")
    assert snapshot["warmup_state"] == "failed"
    assert "network is unreachable" in snapshot["warmup_reason"]
    assert snapshot["contacts"] == len(sandbox.account.contacts)
    # The segment runs verified as they always did.
    assert not checked.filter(pl.col("status") != "unknown")["from_cache"].all()
    assert checked.height > 0

"""Benchmark the verification engine against a naive verifier, on a generated mail world.

    python benchmarks/verify.py            # 100,000 addresses over 500 domains
    python benchmarks/verify.py --quick    # 20,000 addresses over 200 domains

The addresses are DISTINCT (an ActiveCampaign account holds each email once; no repeat is
verified for free) and every verdict is scored against the generated world's truth
(`samples.expected_status`): `accuracy` is the share of addresses whose status matches it,
`false_undeliverable` the addresses the truth calls deliverable, risky or unknown that the engine
calls undeliverable (each one an unsubscribed customer: the target is 0), `false_deliverable`
the reverse mistake. The world has servers that reject our sender at RCPT, servers that reject
everything (postmaster too), and each provider's own reply texts.

The mail world (DNS + SMTP servers on loopback, 20 ms added to every DNS answer and every SMTP
reply) runs in a SUBPROCESS, so its CPU and memory are not this process's: `peak_rss_mb` is the
engine's process alone (and includes the Python interpreter, Polars and the input list).

The naive baseline is what a script written in an afternoon does, sequentially and without any
cache: `email_validator.validate_email(check_deliverability=True)` (its MX lookup pointed at the
sandbox DNS), then one SMTP connection per address with smtplib (connect, EHLO, MAIL, RCPT,
QUIT) to the first MX host, resolved through the same DNS. It is timed on a random sample of the
same addresses (1,000; 300 with --quick) and its rate extrapolated; the engine verifies all of
them. At ~7 addresses/s a 300-address sequential run alone would take the whole --quick budget,
so the sample is split among a few workers that each run the baseline strictly sequentially on
their share: `baseline_addresses_per_s` = sample / (sum of every address's own time), i.e. the
rate of ONE sequential run, not of the workers together. The baseline runs after the engine, never
beside it, and has its own DNS / SMTP / memory figures (`baseline_*`).

DNS figures: the sandbox DNS volunteers the MX hosts' addresses in the additional section (as
authoritative servers do), which the engine uses, so it makes one MX query per domain
(`dns_mx_queries` = `unique_domains`). `dns_fallback_queries` are the A (then AAAA) lookups
RFC 5321 section 5.1 requires for domains that answer the MX query with no MX at all: their
address is where the mail would go. Nothing else is asked.

The last line printed is one JSON object of named figures.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import random
import smtplib
import sys
import threading
import time
from collections import Counter
from typing import Any

import dns.resolver
import psutil
from email_validator import EmailNotValidError, validate_email

from ac_hygiene.sandbox.mailworld import (
    MailWorldServer,
    generate_world,
    labelled_sample,
)
from ac_hygiene.sandbox.mailworld.samples import mailbox_key
from ac_hygiene.verification import BatchStats, VerificationSettings, verify_emails

LATENCY_S = 0.020
SEED = 7


def _serve_world(domains: int, latency_s: float, pipe: Any) -> None:
    """Child process: serve the world; answer "stats" and "reset" requests until "stop"."""
    world = generate_world(domains, seed=SEED)
    with MailWorldServer(world, latency_s=latency_s).run_in_thread() as running:
        pipe.send({"dns": (running.dns_host, running.dns_port), "smtp_port": running.smtp_port})
        while True:
            request = pipe.recv()
            if request == "stats":
                stats = running.stats.as_dict()
                by_type: Counter[str] = Counter()
                for (_, qtype), count in running.stats.dns_by_query.items():
                    by_type[qtype] += count
                stats["dns_by_type"] = dict(by_type)
                pipe.send(stats)
            elif request == "reset":
                running.stats.reset()
                pipe.send("ok")
            else:
                pipe.send("bye")
                return


class WorldProcess:
    """The mail world in a child process, with its traffic counters on request."""

    def __init__(self, domains: int, latency_s: float):
        context = mp.get_context("spawn")
        self._pipe, child = context.Pipe()
        self._process = context.Process(
            target=_serve_world, args=(domains, latency_s, child), daemon=True
        )

    def __enter__(self) -> dict[str, Any]:
        self._process.start()
        if not self._pipe.poll(60):
            raise RuntimeError("the mail world did not start within 60 s")
        return self._pipe.recv()

    def __exit__(self, *_exc: object) -> None:
        try:
            self._pipe.send("stop")
            self._pipe.poll(10)
        finally:
            self._process.join(10)
            if self._process.is_alive():
                self._process.terminate()

    def ask(self, request: str) -> Any:
        self._pipe.send(request)
        return self._pipe.recv()


class PeakRss:
    """Samples this process's resident memory every 20 ms while the engine runs."""

    def __init__(self) -> None:
        self._process = psutil.Process()
        self.peak = self._process.memory_info().rss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, self._process.memory_info().rss)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._process.memory_info().rss)


def naive_verify(address: str, resolver: dns.resolver.Resolver, smtp_port: int) -> str:
    """The baseline: email-validator with DNS, then one SMTP session for this one address."""
    try:
        valid = validate_email(address, check_deliverability=True, dns_resolver=resolver)
    except EmailNotValidError:
        return "invalid"
    mx = (getattr(valid, "mx", None) or [(0, valid.ascii_domain)])[0][1]
    try:
        host = resolver.resolve(mx, "A")[0].address
        with smtplib.SMTP(host, smtp_port, local_hostname="bench.example", timeout=5) as smtp:
            smtp.ehlo()
            smtp.mail("verify@bench.example")
            code, _ = smtp.rcpt(valid.ascii_email or valid.normalized)
            return str(code)
    except (OSError, smtplib.SMTPException, dns.exception.DNSException):
        return "unknown"


def _baseline_worker(
    addresses: list[str], dns_server: tuple[str, int], smtp_port: int, times: list[float]
) -> None:
    """One strictly sequential baseline run over its share; each address's time appended."""
    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers = [dns_server[0]]
    resolver.nameserver_ports = {dns_server[0]: dns_server[1]}
    resolver.lifetime = 5.0
    resolver.cache = None
    for address in addresses:
        started = time.perf_counter()
        naive_verify(address, resolver, smtp_port)
        times.append(time.perf_counter() - started)


def run_baseline(
    addresses: list[str], dns_server: tuple[str, int], smtp_port: int, workers: int
) -> tuple[float, float]:
    """(sum of the per-address times = one sequential run's duration, wall time of the workers)."""
    times: list[float] = []
    shares = [addresses[index::workers] for index in range(workers)]
    threads = [
        threading.Thread(target=_baseline_worker, args=(share, dns_server, smtp_port, times))
        for share in shares
    ]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(times), time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="20,000 addresses over 200 domains")
    parser.add_argument("--addresses", type=int, default=None)
    parser.add_argument("--domains", type=int, default=None)
    parser.add_argument("--baseline-sample", type=int, default=None)
    parser.add_argument(
        "--baseline-workers", type=int, default=4, help="sequential baseline runs side by side"
    )
    args = parser.parse_args()
    n = args.addresses or (20_000 if args.quick else 100_000)
    domains = args.domains or (200 if args.quick else 500)
    sample_size = args.baseline_sample or (300 if args.quick else 1_000)

    world = generate_world(domains, seed=SEED)
    labelled = labelled_sample(world, n, seed=SEED, distinct=True)
    addresses = [sample.email for sample in labelled]
    truth = [sample.truth for sample in labelled]
    kinds = [sample.kind for sample in labelled]
    distinct = len({mailbox_key(email) for email in addresses})
    del world, labelled
    print(f"{n:,} addresses over {domains} domains; latency {LATENCY_S * 1000:.0f} ms per reply")

    world_process = WorldProcess(domains, LATENCY_S)
    with world_process as endpoints:
        dns_server, smtp_port = tuple(endpoints["dns"]), endpoints["smtp_port"]
        settings = VerificationSettings(
            nameservers=[dns_server],
            smtp_port=smtp_port,
            helo_name="bench.example",
            greylist_budget_s=10.0,
        )
        stats = BatchStats()
        last = [0.0]

        def progress(done: int, total: int) -> None:
            now = time.perf_counter()
            if now - last[0] > 2 or done == total:
                last[0] = now
                print(f"  engine: {done:,}/{total:,}", file=sys.stderr)

        with PeakRss() as rss:
            started = time.perf_counter()
            frame = verify_emails(addresses, settings, progress=progress, stats=stats)
            engine_s = time.perf_counter() - started
        print(f"engine: {n:,} addresses in {engine_s:.1f} s", file=sys.stderr)
        world_stats = world_process.ask("stats")
        world_process.ask("reset")

        sample = random.Random(SEED).sample(addresses, min(sample_size, len(addresses)))
        print(
            f"baseline: {len(sample)} addresses, {args.baseline_workers} sequential workers",
            file=sys.stderr,
        )
        with PeakRss() as baseline_rss:
            baseline_s, baseline_wall_s = run_baseline(
                sample, dns_server, smtp_port, max(1, args.baseline_workers)
            )
        baseline_stats = world_process.ask("stats")

    unique_domains = stats.unique_domains
    statuses = frame.get_column("status").to_list()
    reasons = frame.get_column("reason").to_list()
    matches = sum(got == want for got, want in zip(statuses, truth, strict=True))
    false_undeliverable = sum(
        got == "undeliverable" and want != "undeliverable"
        for got, want in zip(statuses, truth, strict=True)
    )
    false_deliverable = sum(
        got == "deliverable" and want != "deliverable"
        for got, want in zip(statuses, truth, strict=True)
    )
    misses: Counter[str] = Counter(
        f"{kind}:{want}->{got}/{reason}"
        for kind, want, got, reason in zip(kinds, truth, statuses, reasons, strict=True)
        if got != want
    )
    figures = {
        "addresses": n,
        "distinct_addresses": distinct,
        "accuracy": round(matches / max(1, n), 4),
        "false_undeliverable": false_undeliverable,
        "false_deliverable": false_deliverable,
        "domains_in_world": domains,
        "engine_seconds": round(engine_s, 2),
        "addresses_per_s": round(n / engine_s, 1),
        "baseline_sample": len(sample),
        "baseline_workers": max(1, args.baseline_workers),
        "baseline_seconds": round(baseline_s, 2),
        "baseline_wall_seconds": round(baseline_wall_s, 2),
        "baseline_addresses_per_s": round(len(sample) / baseline_s, 2),
        "baseline_dns_queries": baseline_stats["dns_queries"],
        "baseline_smtp_connections": baseline_stats["smtp_connections"],
        "baseline_peak_rss_mb": round(baseline_rss.peak / 2**20, 1),
        "speedup": round((n / engine_s) / (len(sample) / baseline_s), 1),
        "unique_domains": unique_domains,
        "dns_queries": world_stats["dns_queries"],
        "dns_mx_queries": world_stats["dns_by_type"].get("MX", 0),
        "dns_fallback_queries": world_stats["dns_queries"]
        - world_stats["dns_by_type"].get("MX", 0),
        "dns_queries_per_domain": round(world_stats["dns_queries"] / max(1, unique_domains), 3),
        "dns_distinct_queries": world_stats["dns_distinct_queries"],
        "smtp_connections": world_stats["smtp_connections"],
        "smtp_rcpts": world_stats["smtp_rcpts"],
        "addresses_probed_by_smtp": stats.smtp.rcpts,
        "greylist_retries": stats.smtp.greylist_retries,
        "postmaster_checks": stats.smtp.postmaster_checks,
        "dns_reliable": stats.dns_reliable,
        "peak_rss_mb": round(rss.peak / 2**20, 1),
        "world": "subprocess",
        "by_status": dict(Counter(statuses).most_common()),
        "by_reason": dict(Counter(reasons).most_common()),
        "misses": dict(misses.most_common(8)),
    }
    print(f"engine:   {figures['addresses_per_s']:,} addresses/s ({engine_s:.1f} s)")
    print(
        f"accuracy: {figures['accuracy']} on {distinct:,} distinct addresses; "
        f"false undeliverable {false_undeliverable}, false deliverable {false_deliverable}"
    )
    print(
        f"baseline: {figures['baseline_addresses_per_s']} addresses/s on {len(sample)} addresses; "
        f"DNS {figures['baseline_dns_queries']} queries, "
        f"SMTP {figures['baseline_smtp_connections']} connections"
    )
    print(f"speedup:  {figures['speedup']}x")
    print(
        f"DNS: {figures['dns_queries']} queries for {unique_domains} domains "
        f"({figures['dns_mx_queries']} MX + {figures['dns_fallback_queries']} A/AAAA fallbacks "
        f"for domains without MX); SMTP: {figures['smtp_connections']} connections, "
        f"{figures['smtp_rcpts']} RCPTs for {n:,} addresses; peak RSS {figures['peak_rss_mb']} MB"
    )
    print(json.dumps(figures))


if __name__ == "__main__":
    main()

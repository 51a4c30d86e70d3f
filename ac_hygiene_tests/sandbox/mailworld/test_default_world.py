"""The packaged default world: every domain does what its comment in default.yaml says.

Each check goes the way a verifier would: MX (or A) through the world's DNS, then RCPT TO on the
address DNS gave, so the world file, the DNS server and the SMTP servers are checked together.
"""

from __future__ import annotations

import smtplib
from collections.abc import Iterator

import disposable_email_domains
import dns.resolver
import pytest

from ac_hygiene.sandbox.mailworld import MailWorld, MailWorldServer, RunningMailWorld
from ac_hygiene.sandbox.mailworld.world import default_world_path
from ac_hygiene_tests.sandbox.mailworld.support import make_resolver

# domain -> (MX records, {local part: RCPT reply code}); an empty MX list means A fallback.
MAIL_DOMAINS: dict[str, tuple[list[tuple[int, str]], dict[str, int]]] = {
    "gmail.com": (
        [(5, "gmail-smtp-in.l.google.com")],
        {"alice.smith": 250, "Info": 250, "john.doe42": 250, "johndoe": 550},
    ),
    "yahoo.com": (
        [(1, "mta5.am0.yahoodns.net")],
        {"carol.white": 250, "full.box": 552, "jane.roe": 250, "jane": 550},
    ),
    "outlook.com": (
        [(10, "outlook-com.olc.protection.outlook.com")],
        {"jane.roe": 250, "jane": 550},
    ),
    "hotmail.com": (
        [(10, "hotmail-com.olc.protection.outlook.com")],
        {"jane.roe": 250, "jane": 550},
    ),
    "acme.com": (
        [(10, "mx1.acme.com"), (20, "mx2.acme.com")],
        {"alice": 250, "ADMIN": 250, "carol": 552, "jane.roe": 250, "zed": 550},
    ),
    "globex.com": ([(10, "mx.globex.com")], {"hank": 250, "jane.roe": 250, "zed": 550}),
    "initech.com": ([(10, "mx.initech.com")], {"milton": 250, "jane.roe": 250, "zed": 550}),
    "umbrella.io": ([(10, "mx.umbrella.io")], {"jane.roe": 250, "info": 550}),
    "catchall.io": ([(10, "mx.catchall.io")], {"x7q2k": 250, "no.such.person": 250}),
    "mailinator.com": ([(10, "mx.mailinator.com")], {"x7q2k": 250, "no.such.person": 250}),
    "yopmail.com": ([(10, "mx.yopmail.com")], {"x7q2k": 250, "no.such.person": 250}),
    "aonly.net": ([], {"dan": 250, "jane.roe": 250, "zed": 550}),
    "grey.net": ([(10, "mx.grey.net")], {"erin": 450, "zed": 450}),
    "blocked.com": ([(10, "mx.blocked.com")], {"anyone": 554}),
    "bücher.de": ([(10, "mx.xn--bcher-kva.de")], {"jürgen": 250, "ANNA": 250, "zed": 550}),
}
OTHER_DOMAINS = {"nullmx.org", "gone.biz", "flaky-dns.com", "down.com", "nomail.org"}


@pytest.fixture(scope="module")
def default_world() -> MailWorld:
    return MailWorld.load(default_world_path())


@pytest.fixture(scope="module")
def running_default(default_world: MailWorld) -> Iterator[RunningMailWorld]:
    with MailWorldServer(default_world).run_in_thread() as running:
        yield running


def test_every_domain_of_the_default_world_is_checked_here(default_world: MailWorld) -> None:
    checked = {default_world.domain(name).name for name in [*MAIL_DOMAINS, *OTHER_DOMAINS]}
    assert checked == set(default_world.domains)


async def _resolve(running: RunningMailWorld, name: str, qtype: str) -> list[str]:
    answer = await make_resolver(running).resolve(name, qtype)
    return [record.to_text() for record in answer]


@pytest.mark.parametrize("domain", sorted(MAIL_DOMAINS))
async def test_mail_domain_answers_as_documented(
    running_default: RunningMailWorld, domain: str
) -> None:
    expected_mx, expected_replies = MAIL_DOMAINS[domain]
    resolver = make_resolver(running_default)
    if expected_mx:
        answer = await resolver.resolve(domain, "MX")
        mx = sorted((r.preference, r.exchange.to_text(omit_final_dot=True)) for r in answer)
        assert mx == expected_mx
        targets = [host for _, host in mx]
    else:
        with pytest.raises(dns.resolver.NoAnswer):
            await resolver.resolve(domain, "MX")
        targets = [domain]
    for target in targets:  # every MX host answers the same (acme.com has a backup MX)
        address = (await resolver.resolve(target, "A"))[0].address
        with smtplib.SMTP(address, running_default.smtp_port, timeout=5) as smtp:
            smtp.ehlo("probe.example")
            smtp.mail("probe@verifier.example", ["SMTPUTF8"])
            codes = {local: smtp.rcpt(f"{local}@{domain}")[0] for local in expected_replies}
        assert codes == expected_replies, target


def test_disposable_domains_are_on_the_disposable_list() -> None:
    assert {"mailinator.com", "yopmail.com"} <= disposable_email_domains.blocklist


async def test_nullmx_org_publishes_a_null_mx_and_spf_reject_all(
    running_default: RunningMailWorld,
) -> None:
    assert await _resolve(running_default, "nullmx.org", "MX") == ["0 ."]
    assert await _resolve(running_default, "nullmx.org", "TXT") == ['"v=spf1 -all"']


async def test_gone_biz_does_not_exist(running_default: RunningMailWorld) -> None:
    with pytest.raises(dns.resolver.NXDOMAIN):
        await _resolve(running_default, "gone.biz", "MX")


async def test_flaky_dns_com_fails_every_query(running_default: RunningMailWorld) -> None:
    for qtype in ("MX", "A", "TXT"):
        with pytest.raises(dns.resolver.NoNameservers, match="SERVFAIL"):
            await _resolve(running_default, "flaky-dns.com", qtype)


async def test_down_com_mx_resolves_but_refuses_connections(
    running_default: RunningMailWorld,
) -> None:
    assert await _resolve(running_default, "down.com", "MX") == ["10 mx.down.com."]
    [address] = await _resolve(running_default, "mx.down.com", "A")
    with pytest.raises(ConnectionRefusedError):
        smtplib.SMTP(address, running_default.smtp_port, timeout=5)


async def test_nomail_org_exists_without_any_mail_server(running_default: RunningMailWorld) -> None:
    assert await _resolve(running_default, "nomail.org", "TXT") == ['"v=spf1 -all"']
    for qtype in ("MX", "A", "AAAA"):
        with pytest.raises(dns.resolver.NoAnswer):
            await _resolve(running_default, "nomail.org", qtype)

"""The world loader: the YAML contract, automatic addresses, who listens, and clear refusals."""

from __future__ import annotations

import unicodedata
from pathlib import Path

import pytest
import yaml

from ac_hygiene.sandbox.mailworld import Mailbox, MailWorld, WorldError, default_world_path
from ac_hygiene_tests.sandbox.mailworld.support import world_data


def test_contract_example_from_design_loads_as_documented() -> None:
    """DESIGN.md's example (realigned): hosts missing from `hosts` still get addresses."""
    world = MailWorld.from_dict(
        yaml.safe_load(
            """
            hosts:  {mx1.acme.com: 127.0.0.11, mx.catchall.io: 127.0.0.12}
            domains:
              acme.com: {mx: [[10, mx1.acme.com]], mailboxes: [alice, bob], full_mailboxes: [carol]}
              catchall.io:   {mx: [[10, mx.catchall.io]], catch_all: true}
              nullmx.org:    {null_mx: true}
              aonly.net:     {a: 127.0.0.13, mailboxes: [dan]}
              gone.biz:      {nxdomain: true}
              flaky-dns.com: {servfail: true}
              grey.net:      {mx: [[10, mx.grey.net]], mailboxes: [erin], greylist_seconds: 2}
              blocked.com:   {mx: [[10, mx.blocked.com]], block: true}
              down.com:      {mx: [[10, mx.down.com]]}
            """
        )
    )
    assert world.hosts["mx.blocked.com"] == "127.0.1.1"
    assert world.hosts["mx.down.com"] == "127.0.1.2"
    assert world.hosts["mx.grey.net"] == "127.0.1.3"
    listening = {listener.address for listener in world.listeners}
    assert listening == {"127.0.0.11", "127.0.0.12", "127.0.0.13", "127.0.1.1", "127.0.1.3"}
    assert world.hosts["mx.down.com"] not in listening


def test_automatic_addresses_are_sorted_by_name_and_skip_used_ones() -> None:
    world = MailWorld.from_dict(
        {
            "hosts": {"mx.taken.com": "127.0.1.1"},
            "domains": {
                "b.com": {"mx": [[10, "mx.b.com"]], "catch_all": True},
                "a.com": {"mx": [[10, "mx.a.com"]], "catch_all": True},
                "c.com": {"mx": [[10, "mx.taken.com"]], "catch_all": True},
                "d.com": {"a": "127.0.1.3", "catch_all": True},
            },
        }
    )
    assert world.hosts["mx.a.com"] == "127.0.1.2"
    assert world.hosts["mx.b.com"] == "127.0.1.4"
    assert MailWorld.from_dict(world.source).hosts == world.hosts


def test_listeners_follow_mail_behaviour(world: MailWorld) -> None:
    by_address = {listener.address: listener for listener in world.listeners}
    assert by_address["127.0.0.11"].domains == {"acme.com"}
    assert by_address["127.0.0.12"].domains == {"acme.com"}  # the backup MX serves it too
    assert by_address["127.0.0.13"].names == ("aonly.net",)  # A fallback
    assert by_address["127.0.0.14"].domains == {"hosted.com"}  # parked.com has no mail behaviour
    assert world.hosts["mx.down.com"] not in by_address
    assert world.hosts["mx.dead.com"] not in by_address
    assert "127.0.0.15" not in by_address  # v6.com's A: no mail behaviour, nothing listens
    assert by_address[world.hosts["mx.capped.com"]].max_recipients == 3
    assert by_address[world.hosts["mx.laggy.com"]].latency_s == 0.1


def test_names_are_case_insensitive_and_idna(world: MailWorld) -> None:
    spec = world.domain("BÜCHER.de")
    assert spec is not None and spec.name == "xn--bcher-kva.de"
    assert world.domain("xn--bcher-kva.de.") is spec
    assert world.domain("ACME.COM") is world.domains["acme.com"]
    assert world.hosts["mx.xn--bcher-kva.de"].startswith("127.0.1.")
    assert world.domain("not a domain!") is None
    assert world.domain("unknown.example") is None


def test_local_parts_are_case_insensitive_and_nfc(world: MailWorld) -> None:
    acme = world.domains["acme.com"]
    assert acme.classify("ALICE") is Mailbox.MAILBOX
    assert acme.classify("Jane.Doe") is Mailbox.MAILBOX  # mailbox_pattern, full match
    assert acme.classify("jane.doe.x") is Mailbox.UNKNOWN
    assert acme.classify("Carol") is Mailbox.FULL
    assert acme.classify("zed") is Mailbox.UNKNOWN
    assert world.domains["catchall.io"].classify("anything") is Mailbox.CATCH_ALL
    bucher = world.domains["xn--bcher-kva.de"]
    assert bucher.classify("JÜRGEN") is Mailbox.MAILBOX
    assert bucher.classify(unicodedata.normalize("NFD", "jürgen")) is Mailbox.MAILBOX


def test_default_world_loads_with_every_domain_it_documents() -> None:
    path = default_world_path()
    assert path.is_file()
    world = MailWorld.load(path)
    assert {"acme.com", "gone.biz", "down.com", "xn--bcher-kva.de"} <= set(world.domains)


def _problem(data: object) -> str:
    with pytest.raises(WorldError) as caught:
        MailWorld.from_dict(data)
    return str(caught.value)


def _with_domain(name: str, spec: object) -> dict:
    data = world_data()
    data["domains"][name] = spec
    return data


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (
            _with_domain("x.com", {"mailbox": ["a"]}),
            "domains.x.com: unknown key 'mailbox' (did you mean 'mailboxes'?)",
        ),
        (
            _with_domain("x.com", {"a": "10.0.0.1", "mailboxes": ["a"]}),
            "domains.x.com.a: 10.0.0.1 is not a loopback address",
        ),
        (_with_domain("x.com", {"a": "8.8.8.8"}), "not a loopback address"),
        (_with_domain("x.com", {"a": "localhost"}), "'localhost' is not an IPv4 address"),
        (
            _with_domain("x.com", {"aaaa": "2001:db8::1"}),
            "domains.x.com.aaaa: 2001:db8::1 is not a loopback",
        ),
        (_with_domain("x.com", {"mx": [[10]]}), "domains.x.com.mx[0]: expected [preference, host]"),
        (
            _with_domain("x.com", {"mx": [[70000, "mx.x.com"]]}),
            "preference must be an integer 0-65535",
        ),
        (
            _with_domain("x.com", {"mx": [[10, "bad name!"]]}),
            "domains.x.com.mx[0]: 'bad name!' has an invalid label",
        ),
        (
            _with_domain("x.com", {"mx": [[10, "mx.x.com"]], "mailbox_pattern": "("}),
            "invalid regular expression '('",
        ),
        (
            _with_domain("x.com", {"mx": [[10, "mx.x.com"]], "catch_all": "yes"}),
            "domains.x.com.catch_all: expected true or false",
        ),
        (
            _with_domain("x.com", {"mx": [[10, "mx.x.com"]], "greylist_seconds": -1}),
            "expected a number of seconds >= 0",
        ),
        (
            _with_domain("x.com", {"mx": [[10, "mx.x.com"]], "max_recipients": 0}),
            "domains.x.com.max_recipients: expected an integer >= 1",
        ),
        (
            _with_domain("x.com", {"mx": [[10, "mx.x.com"]], "mailboxes": ["a@x.com"]}),
            "must be a local part only",
        ),
        (
            _with_domain("x.com", {"nxdomain": True, "mailboxes": ["a"]}),
            "nxdomain: true cannot be combined with mailboxes",
        ),
        (
            _with_domain("x.com", {"null_mx": True, "mx": [[10, "mx.x.com"]]}),
            "null_mx: true cannot be combined with mx",
        ),
        (_with_domain("x.com", {"null_mx": True, "catch_all": True}), "accepts no mail"),
        (_with_domain("x.com", {"mailboxes": ["a"]}), "has mail behaviour but no mx and no a"),
        (
            _with_domain("x.com", {"mx": [[10, "mx.shared-host.net"]], "down": True}),
            "down: true, but its mail host 127.0.0.14 also serves hosted.com",
        ),
        (_with_domain("xn--bcher-kva.de", {}), "domain xn--bcher-kva.de is listed twice"),
        (_with_domain("x.com", "catch_all"), "domains.x.com: expected a mapping of settings"),
        ({**world_data(), "domain": {}}, "unknown key 'domain' (did you mean 'domains'?)"),
        (
            {"hosts": {"mx.a.com": "192.168.1.10"}, "domains": {}},
            "hosts.mx.a.com: 192.168.1.10 is not a loopback address",
        ),
        ({"hosts": [], "domains": {}}, "hosts: expected a mapping"),
        ({"hosts": {}}, "domains: expected a mapping of domain name to settings"),
        (["not", "a", "mapping"], "a mail world is a mapping with 'hosts' and 'domains'"),
    ],
)
def test_bad_worlds_are_refused_with_the_place_and_the_fix(data: object, expected: str) -> None:
    assert expected in _problem(data)


def test_every_problem_is_reported_at_once() -> None:
    data = world_data()
    data["domains"]["x.com"] = {"a": "1.2.3.4", "catch_all": "no", "colour": "red"}
    message = _problem(data)
    assert message.startswith("3 problem(s) in the mail world:")
    assert "domains.x.com.a" in message
    assert "domains.x.com.catch_all" in message
    assert "unknown key 'colour'" in message


def test_load_names_the_file_in_errors(tmp_path: Path) -> None:
    missing = tmp_path / "missing.yaml"
    with pytest.raises(WorldError, match=r"cannot read mail world .*missing\.yaml"):
        MailWorld.load(missing)
    broken = tmp_path / "broken.yaml"
    broken.write_text("domains: {acme.com: [unclosed\n", encoding="utf-8")
    with pytest.raises(WorldError, match=r"broken\.yaml is not valid YAML"):
        MailWorld.load(broken)
    bad = tmp_path / "bad.yaml"
    bad.write_text("domains: {acme.com: {a: 10.1.1.1}}\n", encoding="utf-8")
    with pytest.raises(WorldError, match=r"mail world .*bad\.yaml: 1 problem\(s\)"):
        MailWorld.load(bad)


def test_load_reads_a_world_file_with_unicode(tmp_path: Path) -> None:
    path = tmp_path / "world.yaml"
    path.write_text(yaml.safe_dump(world_data(), allow_unicode=True), encoding="utf-8")
    assert MailWorld.load(path).hosts == MailWorld.from_dict(world_data()).hosts


def test_a_world_file_that_is_not_utf8_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes("hosts: {}\ndomains:\n  café.com: {a: 127.0.0.13}\n".encode("latin-1"))
    with pytest.raises(WorldError, match=r"latin1\.yaml is not UTF-8 text: byte 0xe9 on line 3"):
        MailWorld.load(path)


@pytest.mark.parametrize("key", ["greylist_seconds", "latency_s", "dns_delay_s"])
@pytest.mark.parametrize("value", [".nan", ".inf"])
def test_seconds_that_are_not_finite_are_refused(tmp_path: Path, key: str, value: str) -> None:
    """`.nan` would switch greylisting off silently; `.inf` would hang every answer forever."""
    path = tmp_path / "world.yaml"
    path.write_text(
        f"domains: {{x.com: {{mx: [[10, mx.x.com]], mailboxes: [a], {key}: {value}}}}}\n",
        encoding="utf-8",
    )
    with pytest.raises(WorldError, match=rf"domains\.x\.com\.{key}: expected a number of seconds"):
        MailWorld.load(path)

"""Every bad input and broken configuration of the command line gets one clear line (issue 13, 4).

Each case runs the real command (click's runner, in this process) and checks: the exit code of
bad input (2), exactly one line of output naming what is wrong, and no traceback.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from ac_hygiene.activecampaign.retry import parse_json_body
from ac_hygiene.cli import cli
from ac_hygiene.config import ConnectionsConfigError, load_connections_file, safe_load_bounded
from ac_hygiene.defs.partitions import current_month

# 255 bytes of YAML that expand to 9**6 = 531,441 strings (a "billion laughs" in miniature)
ALIAS_BOMB = """\
a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
connections: [*f]
"""
NON_UTF8_NAME = os.fsdecode(b"data-\xff")


def run(args: list[str], env: dict[str, str] | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(cli, args, env=env, catch_exceptions=True)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(f"{args}: uncaught {result.exception!r}\n{result.output}")
    return result.exit_code, result.output


def one_line(output: str) -> str:
    lines = [line for line in output.splitlines() if line.strip()]
    assert len(lines) == 1, f"expected one line, got {len(lines)}:\n{output[:2000]}"
    assert "Traceback" not in output
    return lines[0]


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("--rate-limit", "nan"),
        ("--rate-limit", "inf"),
        ("--rate-limit", "-inf"),
        ("--rate-limit", "1e999"),
        ("--slow-s", "nan"),
        ("--slow-s", "inf"),
        ("--import-delay", "nan"),
        ("--import-delay", "inf"),
        ("--p-429", "nan"),
        ("--p-drop", "NaN"),
    ],
)
def test_sandbox_serve_refuses_non_finite_numbers(option: str, value: str) -> None:
    code, output = run(["sandbox", "serve", "--port", "0", option, value])
    assert code == 2
    assert f"Invalid value for '{option}'" in output and "not a finite number" in output
    assert "Traceback" not in output


@pytest.mark.parametrize("value", ["nan", "inf", "-inf"])
def test_sandbox_mail_refuses_non_finite_latency(value: str) -> None:
    code, output = run(["sandbox", "mail", "--latency-ms", value])
    assert code == 2 and "not a finite number" in output


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"\xff\xfe{}", "not UTF-8 text"),
        (b'{"x": 1}', "unknown key(s) x"),
        (b"[1, 2]", "expected an object"),
        (b'{"contacts": ', "not valid JSON"),
    ],
)
def test_sandbox_serve_account_fixture_errors(
    tmp_path: Path, content: bytes, expected: str
) -> None:
    fixture = tmp_path / "account.json"
    fixture.write_bytes(content)
    code, output = run(["sandbox", "serve", "--port", "0", "--account", str(fixture)])
    assert code == 2
    assert expected in one_line(output)


BROKEN_INSTANCE_YAML = [
    ("storage: [unclosed\n", "not valid YAML at line 2, column 1"),
    ("storage:\n  nonsense: 1\n", 'unexpected config entry "nonsense"'),
    ("- a\n- list\n", "expected a mapping of settings"),
    (ALIAS_BOMB, "expands to more than 100,000 values"),
]


@pytest.mark.parametrize(("text", "expected"), BROKEN_INSTANCE_YAML)
def test_register_segments_with_a_broken_dagster_yaml(
    tmp_path: Path, text: str, expected: str
) -> None:
    (tmp_path / "dagster.yaml").write_text(text)
    code, output = run(["register-segments"], env={"DAGSTER_HOME": str(tmp_path)})
    line = one_line(output)
    assert code == 2 and expected in line and str(tmp_path / "dagster.yaml") in line
    assert len(line) < 400  # never Dagster's whole config schema


def test_register_segments_with_a_non_utf8_dagster_yaml(tmp_path: Path) -> None:
    (tmp_path / "dagster.yaml").write_bytes(b"storage: \xff\n")
    code, output = run(["register-segments"], env={"DAGSTER_HOME": str(tmp_path)})
    assert code == 2 and "not UTF-8 text" in one_line(output)


@pytest.mark.parametrize("home", ["", "missing"])
def test_register_segments_without_a_dagster_home(tmp_path: Path, home: str) -> None:
    env = {"DAGSTER_HOME": str(tmp_path / home) if home else ""}
    code, output = run(["register-segments"], env=env)
    line = one_line(output)
    assert code == 2
    assert ("is not set" if not home else "is not an existing directory") in line


@pytest.mark.parametrize(("text", "expected"), BROKEN_INSTANCE_YAML[:2])
def test_demo_with_a_broken_dagster_yaml_stops_before_starting_anything(
    tmp_path: Path, text: str, expected: str
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text(text)
    env = {"DAGSTER_HOME": str(home)}
    code, output = run(["demo", "--data-dir", str(tmp_path / "data")], env=env)
    assert code == 2 and expected in one_line(output)


def test_demo_refuses_a_non_utf8_data_dir(tmp_path: Path) -> None:
    bad = tmp_path / NON_UTF8_NAME
    code, output = run(["demo", "--data-dir", str(bad)], env={"DAGSTER_HOME": ""})
    line = one_line(output)
    assert code == 2 and "is not a UTF-8 file name" in line and "--data-dir" in line
    assert not bad.exists()


@pytest.mark.parametrize(
    ("partition", "expected"),
    [
        ("garbage", "expected MONTH|SEGMENT"),
        ("all", "expected MONTH|SEGMENT"),
        ("{month}|all|x", "expected MONTH|SEGMENT"),
        ("2026-13|all", "the month must be YYYY-MM"),
        ("26-1|all", "the month must be YYYY-MM"),
        ("2025-01|all", "only the current month"),
        ("{month}|list-x", "Invalid segment"),
        ("{month}|", "Invalid segment"),
        ("{month}|" + "x" * 10_000, "Invalid segment"),
    ],
)
def test_backfill_refuses_a_malformed_partition(
    tmp_path: Path, partition: str, expected: str
) -> None:
    text = partition.replace("{month}", current_month())
    code, output = run(["backfill", "--partition", text], env={"DAGSTER_HOME": str(tmp_path)})
    line = one_line(output)
    assert code == 2 and expected in line and len(line) < 500


def test_backfill_names_an_unregistered_segment_and_the_fix(tmp_path: Path) -> None:
    (tmp_path / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    code, output = run(
        ["backfill", "--partition", f"{current_month()}|list-3"],
        env={"DAGSTER_HOME": str(tmp_path), "AC_HYGIENE_CONNECTIONS": ""},
    )
    assert code == 2
    assert "ac-hygiene register-segments --connection demo" in one_line(output)


def test_backfill_with_an_unknown_connection(tmp_path: Path) -> None:
    code, output = run(
        ["backfill", "--connection", "nope", "--partition", f"{current_month()}|all"],
        env={"DAGSTER_HOME": str(tmp_path), "AC_HYGIENE_CONNECTIONS": ""},
    )
    assert code == 2 and "no connection named 'nope'" in one_line(output)


# --- connections.yaml: aliases bounded, values in errors bounded ---------------------------------


def test_an_alias_bomb_in_connections_yaml_is_refused_quickly(tmp_path: Path) -> None:
    path = tmp_path / "connections.yaml"
    path.write_text(ALIAS_BOMB)
    with pytest.raises(ConnectionsConfigError) as caught:
        load_connections_file(path)
    message = str(caught.value)
    assert "expands to more than 100,000 values" in message and len(message) < 400


def test_the_alias_bomb_through_register_segments_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "connections.yaml"
    path.write_text(ALIAS_BOMB)
    code, output = run(
        ["register-segments"],
        env={"DAGSTER_HOME": str(tmp_path), "AC_HYGIENE_CONNECTIONS": str(path)},
    )
    assert code == 2 and "expands to more than" in one_line(output)


def test_a_recursive_alias_is_refused() -> None:
    with pytest.raises(ConnectionsConfigError, match="refers to itself"):
        safe_load_bounded("connections: &x [*x]\n", "c.yaml")


def test_ordinary_aliases_still_work(tmp_path: Path) -> None:
    path = tmp_path / "connections.yaml"
    path.write_text(
        "defaults: &d {segment_by: list, threshold: 5000}\n"
        "connections:\n"
        "  - {name: acme, api_url_env: A_URL, api_key_env: A_KEY, <<: *d}\n"
        "  - {name: beta, api_url_env: B_URL, api_key_env: B_KEY, <<: *d}\n".replace(
            "defaults: &d", "x-defaults: &d"
        )
    )
    # a top-level key besides `connections` is refused, so anchors live inside the list
    with pytest.raises(ConnectionsConfigError, match="unknown key"):
        load_connections_file(path)
    path.write_text(
        "connections:\n"
        "  - &acme {name: acme, api_url_env: A_URL, api_key_env: A_KEY, threshold: 5000}\n"
        "  - {<<: *acme, name: beta, api_url_env: B_URL, api_key_env: B_KEY}\n"
    )
    config = load_connections_file(path)
    assert [(c.name, c.threshold) for c in config.connections] == [("acme", 5000), ("beta", 5000)]


def test_a_huge_wrong_value_is_shortened_in_the_message(tmp_path: Path) -> None:
    path = tmp_path / "connections.yaml"
    path.write_text(
        "connections:\n  - name: acme\n    api_url_env: A\n    api_key_env: B\n"
        f"    threshold: [{', '.join(['99'] * 50_000)}]\n"
    )
    with pytest.raises(ConnectionsConfigError) as caught:
        load_connections_file(path)
    assert "`threshold` must be a positive number" in str(caught.value)
    assert len(str(caught.value)) < 300


def test_a_yaml_syntax_error_names_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "connections.yaml"
    path.write_text("connections:\n  - name: [\n")
    with pytest.raises(ConnectionsConfigError, match=r"not valid YAML at line 3, column 1: "):
        load_connections_file(path)


# --- API pages with lone surrogates ----------------------------------------------------------


def test_a_lone_surrogate_escape_becomes_the_replacement_character() -> None:
    body = parse_json_body(
        b'{"contacts": [{"firstName": "Ann\\ud800e", "lastName": "\\udfff",'
        b' "email": "a\\ud83d\\ude00@x.com", "\\udc00": "\\\\ud800"}]}'
    )
    (contact,) = body["contacts"]  # type: ignore[index]
    assert contact == {
        "firstName": "Ann\ufffde",
        "lastName": "\ufffd",
        "email": "a\U0001f600@x.com",  # a valid pair is one character, untouched
        "\ufffd": "\\ud800",  # an escaped backslash is text, not an escape
    }
    json.dumps(body, ensure_ascii=False).encode("utf-8")  # storable as UTF-8 everywhere


def test_invalid_utf8_bytes_are_replaced_and_truncation_still_fails() -> None:
    assert parse_json_body(b'{"a": "x\xffy"}') == {"a": "x\ufffdy"}
    assert parse_json_body(b'\xef\xbb\xbf{"a": 1}') == {"a": 1}  # a BOM is not content
    with pytest.raises(ValueError):
        parse_json_body(b'{"a": "x\xc3')

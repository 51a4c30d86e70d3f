"""The connections file's `new_contacts` settings: defaults, values, and errors that say the fix."""

import pytest
import yaml

from ac_hygiene.config import ConnectionsConfigError, NewContactsSettings, parse_connections

BASE = "{name: acme, api_url_env: ACME_URL, api_key_env: ACME_KEY"


def parse(extra: str = ""):
    (settings,) = parse_connections(yaml.safe_load(f"[{BASE}{extra}}}]"), "test").connections
    return settings


def test_defaults_when_absent_or_empty() -> None:
    assert parse().new_contacts == NewContactsSettings(interval_hours=6.0, overlap_minutes=15)
    assert parse(", new_contacts: ").new_contacts == NewContactsSettings()


def test_values_are_read() -> None:
    watch = parse(", new_contacts: {interval_hours: 1.5, overlap_minutes: 5}").new_contacts
    assert (watch.interval_hours, watch.overlap_minutes) == (1.5, 5)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (", new_contacts: 6", "must be a mapping"),
        (", new_contacts: {every: 6}", "unknown key(s) every"),
        (", new_contacts: {interval_hours: 0.1}", "interval_hours` must be a number of hours"),
        (", new_contacts: {interval_hours: yes}", "interval_hours` must be a number of hours"),
        (", new_contacts: {overlap_minutes: 0}", "overlap_minutes` must be a whole number"),
        (", new_contacts: {overlap_minutes: 2.5}", "overlap_minutes` must be a whole number"),
        (", new_contacts: {interval_hours: 0.5, overlap_minutes: 30}", "must be shorter"),
    ],
)
def test_bad_values_are_explained(extra: str, message: str) -> None:
    with pytest.raises(ConnectionsConfigError, match="connection 'acme'") as error:
        parse(extra)
    assert message in str(error.value)

"""The API key as a secret value that cannot leak through repr, str, f-strings or logs.

Anything that holds the key (a Connection, a client, a Dagster resource) ends up printed some day:
in a traceback, a debug log, the Dagster UI. Wrapping the key makes every such path show at most
its last four characters; only the code that builds the `Api-Token` header calls `reveal()`.
"""

from __future__ import annotations

import hmac

from ac_hygiene.activecampaign.errors import WHERE_TO_FIND, InvalidApiKey

# Keys shorter than this show no characters at all: 4 characters of a short key are too much of it.
_MIN_LEN_TO_SHOW_TAIL = 16


class ApiKey:
    """A secret string. `repr`/`str` show `ApiKey('****abcd')`; `reveal()` returns the key."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        if not isinstance(value, str):
            raise TypeError("ApiKey wraps a str")
        self._value = value

    def reveal(self) -> str:
        """The key itself, for the request header only."""
        return self._value

    def masked(self) -> str:
        tail = self._value[-4:] if len(self._value) >= _MIN_LEN_TO_SHOW_TAIL else ""
        return "****" + tail

    def __repr__(self) -> str:
        return f"ApiKey('{self.masked()}')"

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        return format(repr(self), spec)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ApiKey):
            return NotImplemented
        return hmac.compare_digest(self._value.encode(), other._value.encode())

    def __hash__(self) -> int:
        return hash((ApiKey, self._value))


def normalize_api_key(raw: str | ApiKey) -> ApiKey:
    """Strip surrounding whitespace and refuse what cannot be a key; the error never echoes it."""
    if isinstance(raw, ApiKey):
        raw = raw.reveal()
    if not isinstance(raw, str):
        raise InvalidApiKey(f"Invalid ActiveCampaign API key: it must be text. {WHERE_TO_FIND}")
    value = raw.strip()
    reason = None
    if not value:
        reason = "it is empty"
    elif any(ch.isspace() for ch in value):
        reason = "it contains spaces or line breaks inside; paste it again in one piece"
    elif not value.isascii() or not value.isprintable():
        reason = "it contains characters an ActiveCampaign key never has"
    elif "://" in value or value.lower().startswith(("http", "www.")) or ".api-" in value:
        reason = "this looks like the API URL; the key is shown just below the URL"
    if reason:
        raise InvalidApiKey(f"Invalid ActiveCampaign API key: {reason}. {WHERE_TO_FIND}")
    return ApiKey(value)

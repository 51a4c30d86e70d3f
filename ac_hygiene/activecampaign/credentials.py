"""A named connection to one ActiveCampaign account: its API URL and API key.

The URL and key helpers live in `api_url` and `api_key`; they are re-exported here because a
connection is what callers think in.
"""

from __future__ import annotations

from dataclasses import dataclass

from ac_hygiene.activecampaign.api_key import ApiKey, normalize_api_key
from ac_hygiene.activecampaign.api_url import normalize_api_url

__all__ = ["ApiKey", "Connection", "normalize_api_key", "normalize_api_url"]


@dataclass(frozen=True)
class Connection:
    """One account. Construct with normalized values, or from pasted ones with `from_raw`.

    The repr is safe to print: the key shows as `ApiKey('****abcd')`.
    """

    name: str
    api_url: str
    api_key: ApiKey

    def __post_init__(self) -> None:
        # A plain str key here would print in full in every repr and traceback: refuse it.
        if not isinstance(self.api_key, ApiKey):
            raise TypeError("Connection.api_key must be an ApiKey; use Connection.from_raw")
        if normalize_api_url(self.api_url) != self.api_url:
            raise ValueError("Connection.api_url must be normalized; use Connection.from_raw")

    @classmethod
    def from_raw(cls, name: str, api_url: str, api_key: str | ApiKey) -> Connection:
        """Normalize what a user pasted; raises InvalidApiUrl / InvalidApiKey (ValueErrors)."""
        return cls(
            name=(name or "").strip() or "default",
            api_url=normalize_api_url(api_url),
            api_key=normalize_api_key(api_key),
        )

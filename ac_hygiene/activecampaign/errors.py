"""Every error the ActiveCampaign package raises.

Callers (the CLI, the Dagster assets, the apply step) decide what to do by *class*, not by parsing
messages: an auth failure stops a run and asks the user to reconnect, an inactive plan stops it
for good, a missing record is often fine, and a write whose outcome is unknown must be reconciled
before anything retries it. Messages are written for the person who has to act on them and never
contain the API key: they are built only from status codes, paths and server messages.
"""

from __future__ import annotations

AUTH_HINTS = (
    "Paste both the API URL and the API key again, without trailing whitespace.",
    "The ActiveCampaign user needs admin permissions: read-only users may not get a working key.",
    "Regenerate the key in ActiveCampaign (Settings → Developer) and reconnect.",
)

WHERE_TO_FIND = (
    "Copy it from ActiveCampaign: Settings → Developer (or your avatar → Settings → Developer)."
)


class ActiveCampaignError(Exception):
    """Base class: anything that went wrong talking to (or about) ActiveCampaign."""

    #: HTTP status of the response that caused it, when there was one.
    status: int | None = None

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class InvalidApiUrl(ActiveCampaignError, ValueError):
    """The API URL the user gave is not an unambiguous ActiveCampaign API URL."""


class InvalidApiKey(ActiveCampaignError, ValueError):
    """The API key the user gave cannot be a key (empty, spaces inside, not ASCII...)."""


class InvalidSegment(ActiveCampaignError, ValueError):
    """A segment string other than `all`, `list-<id>` or `tag-<id>`."""


class AuthenticationFailed(ActiveCampaignError):
    """ActiveCampaign refused the key (403, twice: the API sometimes answers 403 intermittently)."""

    def __init__(self, detail: str = "", *, status: int | None = 403) -> None:
        message = "API authentication failed"
        if detail:
            message += f" ({detail})"
        message += ". " + " ".join(AUTH_HINTS)
        super().__init__(message, status=status)


class AccountInactive(ActiveCampaignError):
    """402: the account's plan is inactive; nothing will work until it is reactivated."""


class NotFound(ActiveCampaignError):
    """404, or a 403 whose body says "No Result found for ..." (the API's way for some records)."""


class ValidationFailed(ActiveCampaignError):
    """422 (or a bulk import rejected as invalid): the request itself is wrong; never retried."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = 422,
        failure_reasons: list[object] | None = None,
    ) -> None:
        super().__init__(message, status=status)
        self.failure_reasons: list[object] = list(failure_reasons or [])


class Unreachable(ActiveCampaignError):
    """The host could not be reached at all (DNS failure, connection refused, TLS failure)."""


class RetriesExhausted(ActiveCampaignError):
    """A retryable failure (429, 5xx, timeout, dropped connection...) persisted past max_retries."""


class UnexpectedResponse(ActiveCampaignError):
    """A response this client does not know how to interpret (redirect, odd 4xx, non-JSON)."""


class WriteOutcomeUnknown(ActiveCampaignError):
    """A non-idempotent write may or may not have been applied (timeout / 5xx after sending).

    It is not retried automatically because ActiveCampaign has no idempotency keys: a second
    attempt could apply the write twice. Reconcile (read back) before trying again.
    """

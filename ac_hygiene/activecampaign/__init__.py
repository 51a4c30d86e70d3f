"""ActiveCampaign: connection (URL + key), async client (account-wide rate limit, retries,
keyset paging), reads as Polars frames, writes (bulk import, list status, tags, fields, delete).

Knows nothing of Dagster or of the verification engine.
"""

from ac_hygiene.activecampaign.api_key import ApiKey, normalize_api_key
from ac_hygiene.activecampaign.api_url import ALLOW_LOOPBACK_ENV, normalize_api_url
from ac_hygiene.activecampaign.checkpoint import Checkpoint
from ac_hygiene.activecampaign.client import ActiveCampaignClient, ClientStats
from ac_hygiene.activecampaign.contacts import (
    PageProgress,
    checkpoint_key,
    extract_contacts,
    extract_contacts_sync,
)
from ac_hygiene.activecampaign.credentials import Connection
from ac_hygiene.activecampaign.errors import (
    AccountInactive,
    ActiveCampaignError,
    AuthenticationFailed,
    InvalidApiKey,
    InvalidApiUrl,
    InvalidSegment,
    NotFound,
    RetriesExhausted,
    UnexpectedResponse,
    Unreachable,
    ValidationFailed,
    WriteOutcomeUnknown,
)
from ac_hygiene.activecampaign.limiter import (
    ACCOUNT_RATE_LIMIT,
    DEFAULT_RATE,
    RateLimiter,
    account_limiter,
    bulk_import_limiter,
)
from ac_hygiene.activecampaign.reads import (
    AccountSummary,
    User,
    account_summary,
    fetch_field_values,
    fetch_fields,
    fetch_lists,
    fetch_tags,
    users_me,
)
from ac_hygiene.activecampaign.segments import ALL, Segment, parse_segment
from ac_hygiene.activecampaign.writes import (
    ImportContact,
    ImportResult,
    add_tag,
    bulk_import,
    delete_contact,
    remove_tag,
    set_field_value,
    unsubscribe,
)

__all__ = [
    "ACCOUNT_RATE_LIMIT",
    "ALL",
    "ALLOW_LOOPBACK_ENV",
    "DEFAULT_RATE",
    "AccountInactive",
    "AccountSummary",
    "ActiveCampaignClient",
    "ActiveCampaignError",
    "ApiKey",
    "AuthenticationFailed",
    "Checkpoint",
    "ClientStats",
    "Connection",
    "ImportContact",
    "ImportResult",
    "InvalidApiKey",
    "InvalidApiUrl",
    "InvalidSegment",
    "NotFound",
    "PageProgress",
    "RateLimiter",
    "RetriesExhausted",
    "Segment",
    "UnexpectedResponse",
    "Unreachable",
    "User",
    "ValidationFailed",
    "WriteOutcomeUnknown",
    "account_limiter",
    "account_summary",
    "add_tag",
    "bulk_import",
    "bulk_import_limiter",
    "checkpoint_key",
    "delete_contact",
    "extract_contacts",
    "extract_contacts_sync",
    "fetch_field_values",
    "fetch_fields",
    "fetch_lists",
    "fetch_tags",
    "normalize_api_key",
    "normalize_api_url",
    "parse_segment",
    "remove_tag",
    "set_field_value",
    "unsubscribe",
    "users_me",
]

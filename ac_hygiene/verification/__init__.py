"""The verification engine: syntax, DNS, lists, typos and SMTP, cheapest layer first.

A plain library: it knows nothing of Dagster, ActiveCampaign or the sandbox. Point it at any
DNS server and SMTP port through `VerificationSettings`.
"""

from ac_hygiene.verification.cache import CACHED_COLUMNS, MemoryCache, ResultCache
from ac_hygiene.verification.engine import BatchStats, averify_emails, verify_emails
from ac_hygiene.verification.lists import is_disposable, is_free, is_role
from ac_hygiene.verification.replies import Verdict, classify_rcpt
from ac_hygiene.verification.result import DNS_UNRELIABLE
from ac_hygiene.verification.settings import DEFAULT_CANARIES, VerificationSettings
from ac_hygiene.verification.syntax import ParsedAddress, dedup_key, parse_address
from ac_hygiene.verification.typo import suggest_domain, suggest_email

__all__ = [
    "CACHED_COLUMNS",
    "DEFAULT_CANARIES",
    "DNS_UNRELIABLE",
    "BatchStats",
    "MemoryCache",
    "ParsedAddress",
    "ResultCache",
    "Verdict",
    "VerificationSettings",
    "averify_emails",
    "classify_rcpt",
    "dedup_key",
    "is_disposable",
    "is_free",
    "is_role",
    "parse_address",
    "suggest_domain",
    "suggest_email",
    "verify_emails",
]

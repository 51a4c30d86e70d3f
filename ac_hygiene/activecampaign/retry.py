"""Retry policy: backoff delays, `Retry-After` parsing, and reading ActiveCampaign error bodies.

Kept free of I/O so that the rules the client follows can be tested on their own. The rules:
exponential backoff with *full jitter* (a random delay between 0 and `base * 2**attempt`, capped),
so that many clients throttled at the same moment do not come back in lockstep; a server's
`Retry-After` is a floor, never shortened.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

_MAX_MESSAGE = 300


@dataclass
class Backoff:
    """Full-jitter exponential backoff."""

    base_s: float = 0.5
    cap_s: float = 30.0
    rng: random.Random = field(default_factory=random.Random)

    def delay(self, attempt: int, floor_s: float = 0.0) -> float:
        """Delay before retry number `attempt` (0-based), at least `floor_s`."""
        ceiling = min(self.cap_s, self.base_s * (2**attempt))
        return max(floor_s, self.rng.uniform(0.0, ceiling))


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a `Retry-After` header (delta-seconds or an HTTP date), or None."""
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    if seconds != seconds:  # NaN
        return None
    return min(max(0.0, seconds), 3600.0)


# `\ud800`-`\udfff` escapes: a surrogate pair is one character, a lone one is not text at all.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def parse_json_body(content: bytes) -> object:
    """The JSON of a body; raises ValueError for truncated or non-JSON content.

    JSON may escape a lone UTF-16 surrogate (`"\ud800"`, what a client that cut an emoji in two
    stored); Python decodes it into a string that cannot be encoded as UTF-8, so Parquet, the
    checkpoint and every database would refuse the page, and the segment would fail on every
    retry. Each lone surrogate becomes U+FFFD (the replacement character), as the verification
    engine does for addresses: the contact is kept with its other fields byte-exact, and a
    field that held a broken character visibly holds one. Valid pairs are untouched (the JSON
    decoder has already joined them into one character). Raw bytes that are not UTF-8 get the
    same treatment (a truncated body still fails: its closing brackets are missing).
    """
    if not content.strip():
        return {}
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = content.decode("utf-8-sig", "replace")
    body = json.loads(text)
    if _SURROGATE_ESCAPE.search(content):
        return _replace_lone_surrogates(body)
    return body


def _replace_lone_surrogates(value: object) -> object:
    if isinstance(value, str):
        return _LONE_SURROGATE.sub("\ufffd", value)
    if isinstance(value, list):
        return [_replace_lone_surrogates(item) for item in value]
    if isinstance(value, dict):
        return {
            _replace_lone_surrogates(key): _replace_lone_surrogates(item)
            for key, item in value.items()
        }
    return value


def error_message(content: bytes, scrub: Callable[[str], str] | None = None) -> str:
    """The human part of an ActiveCampaign error body, in any of its shapes, shortened.

    `scrub` is applied to the whole text *before* it is shortened: shortening first could cut a
    secret echoed by the server in two and leave a prefix of it that no longer matches.
    """
    try:
        body = parse_json_body(content)
    except ValueError:
        return ""
    parts: list[str] = []
    if isinstance(body, dict):
        message = body.get("message")
        if isinstance(message, str):
            parts.append(message)
        errors = body.get("errors")
        if isinstance(errors, list):
            for error in errors[:3]:
                if isinstance(error, dict):
                    text = error.get("detail") or error.get("title")
                    if isinstance(text, str):
                        parts.append(text)
    text = "; ".join(parts)
    if scrub is not None:
        text = scrub(text)
    return text[:_MAX_MESSAGE]


def is_missing_record_403(content: bytes) -> bool:
    """Some endpoints answer 403 `{"message":"No Result found for _List with id 3"}`."""
    return "no result found" in error_message(content).lower()


def is_bulk_rate_limited(status: int, content: bytes) -> bool:
    """Bulk import answers HTTP 400 "Rate limit exceeded." when over 100 imports per minute."""
    return status == 400 and "rate limit exceeded" in error_message(content).lower()

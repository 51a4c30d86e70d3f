"""Normalizing the API URL a user pastes from ActiveCampaign's Settings → Developer page.

Users paste the URL in many shapes (no scheme, a trailing `/api/3`, upper case, stray whitespace);
those are unambiguous and are normalized to `https://<host>`. Everything else is refused, because
the URL decides where the API key is sent: a pasted URL must never make the client send the key
over plain HTTP, to a non-ActiveCampaign host, or to an internal address (private ranges, cloud
metadata at 169.254.169.254, ...). Only the sandbox and demo, which set `AC_ALLOW_LOOPBACK=1` for
themselves, may point the client at a loopback `http://` URL.

Choice on the web URL: `<account>.activehosted.com` also answers `/api/3` (third-party evidence),
so it is accepted as `https://<account>.activehosted.com`. It is not rewritten to an `api-us1`
host, since the region cannot be known from the web URL. The browser's address of the web app on
that host (`https://<account>.activehosted.com/app/contacts?listid=3`, what users copy when they
cannot find Settings → Developer) is therefore mapped to the same host: its path and query are
dropped, since they only say which page of the app was open. Web-app paths on any other host are
refused as ordinary wrong paths.
"""

from __future__ import annotations

import ipaddress
import os
import re
from urllib.parse import urlsplit

from ac_hygiene.activecampaign.errors import WHERE_TO_FIND, InvalidApiUrl

ALLOW_LOOPBACK_ENV = "AC_ALLOW_LOOPBACK"

_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
# `<account>.api-<region><n>.com`: api-us1, api-us2, api-eu1, api-ca1, ...
_API_HOST = re.compile(rf"{_LABEL}\.api-[a-z]{{2,4}}[0-9]{{1,3}}\.com")
_WEB_HOST = re.compile(rf"{_LABEL}\.activehosted\.com")
_ACCEPTED_PATHS = {"", "/", "/api/3", "/api/3/"}
# An ActiveCampaign key is 64-72 hex characters: a URL field holding one was swapped with the key.
_LOOKS_LIKE_KEY = re.compile(r"[0-9a-fA-F]{32,}")


def _refuse(reason: str) -> InvalidApiUrl:
    """Build the error; it never quotes the input, which could be a key pasted in the wrong box."""
    return InvalidApiUrl(
        f"Invalid ActiveCampaign API URL: {reason}. {WHERE_TO_FIND} It looks like "
        "https://YOURACCOUNT.api-us1.com (the us1 part may differ for European or other "
        "regional accounts)."
    )


def loopback_allowed() -> bool:
    """Read at call time, so that the sandbox can switch it on for its own process only."""
    return os.environ.get(ALLOW_LOOPBACK_ENV, "").strip() == "1"


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return bool(re.fullmatch(r"[0-9.]+", host))  # 0x7f.1, 2130706433 and similar spellings
    return True


def _is_web_app_page(host: str, path: str, scheme: str) -> bool:
    """A page of the web app on the account's own `activehosted.com` host (https only)."""
    page = path.lower()
    return (
        scheme == "https"
        and _WEB_HOST.fullmatch(host) is not None
        and (page == "/app" or page.startswith("/app/"))
    )


def normalize_api_url(raw: str) -> str:
    """Return `https://<host>` (or an allowed loopback URL) for `raw`, or raise InvalidApiUrl."""
    if not isinstance(raw, str):
        raise _refuse("it must be text")
    text = raw.strip()
    if not text:
        raise _refuse("it is empty")
    if any(ch.isspace() for ch in text) or not text.isprintable() or not text.isascii():
        raise _refuse("it contains spaces or unexpected characters")
    if _LOOKS_LIKE_KEY.fullmatch(text):
        raise _refuse("this looks like the API key; the URL is shown just above the key")
    if "://" not in text:
        text = "https://" + text
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        raise _refuse("it is not a well-formed URL") from None
    scheme = parts.scheme.lower()
    if scheme not in {"http", "https"}:
        raise _refuse("it must start with https://")
    if "@" in parts.netloc:
        raise _refuse("it must not contain a user name or password")
    host = (parts.hostname or "").lower()
    if host.endswith(".") and not host.endswith(".."):
        host = host[:-1]
    if (
        port is None
        and not parts.netloc.endswith(":")
        and _is_web_app_page(host, parts.path, scheme)
    ):
        return f"https://{host}"
    if "?" in text or "#" in text:
        raise _refuse("it must not contain a query string (?...) or a fragment (#...)")
    if parts.path.lower() not in _ACCEPTED_PATHS:
        raise _refuse("the only path allowed after the host is /api/3")
    if not host:
        raise _refuse("it has no host name")

    if _is_loopback(host):
        if not loopback_allowed():
            raise _refuse(
                f"loopback addresses are only allowed for the local sandbox "
                f"({ALLOW_LOOPBACK_ENV}=1)"
            )
        shown = f"[{host}]" if ":" in host else host
        return f"{scheme}://{shown}" + (f":{port}" if port is not None else "")
    if _is_ip_literal(host) or ":" in host:
        raise _refuse("it must be a host name, not an IP address")
    if not (_API_HOST.fullmatch(host) or _WEB_HOST.fullmatch(host)):
        raise _refuse("the host is not an ActiveCampaign API host")
    if scheme != "https":
        raise _refuse("it must use https://, never http://")
    if port is not None or parts.netloc.endswith(":"):
        raise _refuse("it must not contain a port")
    return f"https://{host}"

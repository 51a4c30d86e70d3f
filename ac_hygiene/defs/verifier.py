"""From environment-style settings (`host:port`, 0 meaning "default") to the engine's settings."""

from __future__ import annotations

from typing import Any

from ac_hygiene.verification import VerificationSettings
from ac_hygiene.verification.settings import parse_host_port as engine_parse_host_port

DNS_ENV = "AC_HYGIENE_DNS"
SMTP_PORT_ENV = "AC_HYGIENE_SMTP_PORT"
HELO_ENV = "AC_HYGIENE_HELO"
SMTP_TIMEOUT_ENV = "AC_HYGIENE_SMTP_TIMEOUT"
#: Resolver canaries, comma-separated domain names (`none`: no canary check); see the engine.
CANARIES_ENV = "AC_HYGIENE_CANARIES"


def parse_canaries(text: str) -> tuple[str, ...] | None:
    """`gmail.com,outlook.com` -> the names; `none` -> () (check off); empty -> None (default)."""
    text = text.strip()
    if not text:
        return None
    if text.lower() == "none":
        return ()
    return tuple(name.strip() for name in text.split(",") if name.strip())


def parse_host_port(text: str, what: str = DNS_ENV) -> tuple[str, int]:
    """The engine's `host:port` parser, with the setting's name in the error for the data team."""
    try:
        return engine_parse_host_port(text)
    except ValueError as error:
        raise ValueError(f"{what}: {error}") from None


def verification_settings(
    *,
    dns: str = "",
    smtp_port: int = 0,
    helo: str = "",
    smtp_timeout_s: float = 0.0,
    canaries: str = "",
) -> VerificationSettings:
    options: dict[str, Any] = {}
    names = parse_canaries(canaries)
    if names is not None:
        options["canaries"] = names
    if dns:
        options["nameservers"] = [parse_host_port(dns)]
    if smtp_port:
        options["smtp_port"] = smtp_port
    if helo:
        options["helo_name"] = helo
    if smtp_timeout_s:
        options["smtp_connect_timeout_s"] = smtp_timeout_s
        options["smtp_command_timeout_s"] = smtp_timeout_s
    return VerificationSettings(**options)

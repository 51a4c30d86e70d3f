"""Parameter types and message helpers shared by the commands: every bad input gets one line.

`FiniteFloat` exists because click's `FloatRange` lets `nan` through every bound (a comparison
with NaN is always false) and takes `inf` when there is no upper bound: `--rate-limit nan` then
crashes deep inside the server, and `--slow-s inf` hangs every slow answer forever.
"""

from __future__ import annotations

import math
from typing import Any

import click

MAX_MESSAGE = 300


class BadInput(click.ClickException):
    """Bad input said in one line (no usage text around it); exit code 2 like a usage error."""

    exit_code = 2


class FiniteFloat(click.FloatRange):
    """A `FloatRange` that refuses `nan` and `inf` with a message saying what is expected."""

    name = "float"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if _non_finite(value):
            shown = value if isinstance(value, str) else repr(value)
            self.fail(f"{shown} is not a finite number ({self._describe_range()})", param, ctx)
        return super().convert(value, param, ctx)


def _non_finite(value: Any) -> bool:
    if isinstance(value, float):
        return not math.isfinite(value)
    if isinstance(value, str):
        try:
            return not math.isfinite(float(value))
        except ValueError:
            return False
    return False


def one_line(text: object, limit: int = MAX_MESSAGE) -> str:
    """`text` on one line (whitespace runs collapsed), cut to `limit` characters."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def utf8_path(path: str | bytes | Any, what: str) -> str:
    """The path as text, or a one-line error for a name that is not valid UTF-8.

    Such a name reaches Python as lone surrogates (PEP 383) and breaks later, far from here:
    in environment variables handed to run workers, in database URLs, in log lines.
    """
    text = str(path)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        shown = text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
        raise BadInput(
            f"{shown} is not a UTF-8 file name; rename it or choose another {what}"
        ) from None
    return text

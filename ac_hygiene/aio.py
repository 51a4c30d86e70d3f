"""The one bridge from synchronous code (Dagster assets, the CLI) into the async libraries.

`asyncio.run` cannot be called from a thread whose event loop is running (a notebook, an async
web framework, a Dagster sensor evaluated inside an async server): there the coroutine runs on a
fresh loop in a helper thread and the caller blocks until it is done. Errors, including
cancellations and `KeyboardInterrupt`, reach the caller as themselves.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def run_sync(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run `coroutine` to completion and return its result, from any synchronous caller."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["result"] = asyncio.run(coroutine)
        except BaseException as error:  # handed to the caller's thread below
            outcome["error"] = error

    thread = threading.Thread(target=run, name="ac-hygiene-run-sync")
    thread.start()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["result"]

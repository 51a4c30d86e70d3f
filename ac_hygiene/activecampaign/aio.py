"""Running requests together without orphaning the others when one fails.

`asyncio.gather` lets the remaining requests run on after the first error (and their errors go
unread); a TaskGroup cancels them. The first error is re-raised as itself, not wrapped in an
ExceptionGroup, so callers can keep catching `AuthenticationFailed` and friends.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

T = TypeVar("T")


async def gather_all(*awaitables: Awaitable[T]) -> list[T]:
    """Results in order; on the first failure the others are cancelled and it is raised."""
    try:
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(_as_coroutine(a)) for a in awaitables]
    except BaseExceptionGroup as failures:
        first: BaseException = failures
        while isinstance(first, BaseExceptionGroup):
            first = first.exceptions[0]
        raise first from None
    return [task.result() for task in tasks]


async def _as_coroutine(awaitable: Awaitable[T]) -> T:
    return await awaitable

"""Running a test's coroutine against a loop writer opened on its own event loop, and closed after."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from backend.store.loop_writer import LoopWriter

T = TypeVar("T")
W = TypeVar("W", bound=LoopWriter)


def with_open_writer(make: Callable[[], W | None], use: Callable[[W], Awaitable[T]]) -> T:
    """`make` runs inside the loop: a writer's pool belongs to the loop it was made on."""

    async def main() -> T:
        writer = make()
        assert writer is not None
        await writer.open()
        try:
            return await use(writer)
        finally:
            await writer.close()

    return asyncio.run(main())

"""Pacing per channel: how many requests in flight, how many a minute, and what the
service's rate-limit headers and 429 answers allow."""

from __future__ import annotations

import asyncio
import time

from prcast.channels.base import RateState


class Gate:
    """Per channel: at most `concurrency` requests in flight, at most `per_minute` a minute,
    no faster than the service's rate-limit headers allow, and paused after a 429."""

    def __init__(
        self, concurrency: int, per_minute: int | None = None, rate: RateState | None = None
    ) -> None:
        self.slots = asyncio.Semaphore(max(1, concurrency))
        self.concurrency = max(1, concurrency)
        self.interval = 60.0 / per_minute if per_minute else 0.0
        self.rate = rate
        self.next_start = 0.0
        self.hold_until = 0.0
        self.pace = asyncio.Lock()

    def hold(self, seconds: float) -> None:
        """Start nothing for `seconds` (the service said so)."""
        self.hold_until = max(self.hold_until, asyncio.get_running_loop().time() + seconds)

    async def __aenter__(self) -> None:
        await self.slots.acquire()
        async with self.pace:
            loop = asyncio.get_running_loop()
            now = loop.time()
            wait = max(
                self.next_start - now,
                self.hold_until - now,
                self.rate.wait(time.time()) if self.rate else 0.0,
            )
            if wait > 0:
                await asyncio.sleep(wait)
            self.next_start = max(loop.time(), self.next_start) + self.interval

    async def __aexit__(self, *exc: object) -> None:
        self.slots.release()

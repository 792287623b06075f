import asyncio
import itertools

from prcast.delivery import Gate


def test_gate_bounds_requests_in_flight() -> None:
    async def run() -> int:
        gate, busy, peak = Gate(concurrency=3), 0, 0

        async def request() -> None:
            nonlocal busy, peak
            async with gate:
                busy += 1
                peak = max(peak, busy)
                await asyncio.sleep(0.01)
                busy -= 1

        await asyncio.gather(*(request() for _ in range(20)))
        return peak

    assert asyncio.run(run()) == 3


def test_gate_spaces_requests_to_the_per_minute_limit() -> None:
    async def run() -> list[float]:
        gate, starts = Gate(concurrency=10, per_minute=1200), []  # one every 50 ms
        loop = asyncio.get_running_loop()

        async def request() -> None:
            async with gate:
                starts.append(loop.time())

        await asyncio.gather(*(request() for _ in range(6)))
        return starts

    starts = sorted(asyncio.run(run()))
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    assert all(gap >= 0.049 for gap in gaps), gaps  # never faster than the limit allows

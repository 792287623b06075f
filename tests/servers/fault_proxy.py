"""Fault injection on loopback: an HTTP reverse proxy and a TCP proxy that put faults in
front of real servers at a configurable rate (seeded, so a failing run can be repeated).

HTTP faults, as services really fail:
- "429": answered by the proxy, not forwarded (Retry-After: 0, X-RateLimit-Remaining: 0);
- "503": answered by the proxy, not forwarded;
- "502-after": forwarded (the server acted on it) and the answer replaced by a 502;
- "slow-after": forwarded, then held past the client's timeout (the answer is lost).
TCP faults: "drop" closes a new connection before a byte is exchanged.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
import threading
from collections import Counter
from dataclasses import dataclass, field

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

HTTP_FAULTS = ("429", "503", "502-after", "slow-after")


@dataclass
class FaultPlan:
    rate: float = 0.0
    faults: tuple[str, ...] = HTTP_FAULTS
    hold_seconds: float = 2.0
    seed: int = 20261123
    only_methods: tuple[str, ...] = ("POST", "PUT")
    injected: Counter[str] = field(default_factory=Counter)

    def __post_init__(self) -> None:
        self.random = random.Random(self.seed)

    def pick(self, method: str) -> str | None:
        if method not in self.only_methods or self.random.random() >= self.rate:
            return None
        fault = self.random.choice(self.faults)
        self.injected[fault] += 1
        return fault


def http_proxy(upstream: str, plan: FaultPlan) -> Starlette:
    client = httpx.AsyncClient(base_url=upstream, timeout=60)

    async def forward(request: Request) -> Response:
        fault = plan.pick(request.method)
        if fault == "429":
            return JSONResponse({"error": "Too many requests"}, 429,
                                headers={"Retry-After": "0", "X-RateLimit-Remaining": "0"})  # fmt: skip
        if fault == "503":
            return JSONResponse({"error": "Service temporarily unavailable"}, 503)
        headers = {
            k: v for k, v in request.headers.items() if k.lower() not in ("host", "content-length")
        }
        upstream_response = await client.request(
            request.method, request.url.path, params=request.query_params, headers=headers,
            content=await request.body(),
        )  # fmt: skip
        if fault == "502-after":
            return JSONResponse({"error": "Bad gateway"}, 502)
        if fault == "slow-after":
            await asyncio.sleep(plan.hold_seconds)
        drop = {"content-length", "content-encoding", "transfer-encoding", "connection"}
        return Response(
            upstream_response.content,
            upstream_response.status_code,
            headers={k: v for k, v in upstream_response.headers.items() if k.lower() not in drop},
        )

    return Starlette(
        routes=[Route("/{path:path}", forward, methods=["GET", "POST", "PUT", "DELETE", "PATCH"])]
    )


class TcpProxy:
    """Forwards TCP connections to a port; drops a share of new connections at once."""

    def __init__(self, port: int, drop_rate: float, seed: int = 7) -> None:
        self.target = port
        self.drop_rate = drop_rate
        self.random = random.Random(seed)
        self.dropped = 0
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.running = True
        self.thread.start()

    def _serve(self) -> None:
        while self.running:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            if self.random.random() < self.drop_rate:
                self.dropped += 1
                conn.close()
                continue
            upstream = socket.create_connection(("127.0.0.1", self.target))
            for a, b in ((conn, upstream), (upstream, conn)):
                threading.Thread(target=_pipe, args=(a, b), daemon=True).start()

    def close(self) -> None:
        self.running = False
        self.listener.close()


def _pipe(src: socket.socket, dst: socket.socket) -> None:
    try:
        while data := src.recv(65536):
            dst.sendall(data)
    except OSError:
        pass
    finally:
        for s in (src, dst):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)


__all__ = ["HTTP_FAULTS", "FaultPlan", "TcpProxy", "http_proxy"]

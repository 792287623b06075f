"""Test servers that follow a service's published API, for services that cannot run here."""

from __future__ import annotations

import io
import logging
import threading
import time
import traceback
from typing import Any

#: seconds a test server may take to start: generous, since a loaded machine (CI runs two
#: cores at load 8) is slow; a server that dies fails at once, with what it said
START_SECONDS = 120.0


class ThreadedServer:
    """An ASGI app served by uvicorn on 127.0.0.1 in a background thread."""

    def __init__(self, app: Any) -> None:
        import uvicorn

        self.server = uvicorn.Server(
            uvicorn.Config(
                app, host="127.0.0.1", port=0, log_level="warning", timeout_graceful_shutdown=1
            )
        )
        self.thread = threading.Thread(target=self._run, daemon=True)
        self._said = io.StringIO()  # what uvicorn logs while it starts, and how it ended
        self._lock = threading.Lock()

    def _run(self) -> None:
        try:
            self.server.run()
        except BaseException:  # uvicorn ends a failed start-up with SystemExit
            with self._lock:
                self._said.write(traceback.format_exc())

    def _captured(self) -> str:
        with self._lock:
            return self._said.getvalue()[-6000:] or "(nothing logged)"

    def __enter__(self) -> str:
        handler = logging.StreamHandler(self._said)
        logger = logging.getLogger("uvicorn.error")  # uvicorn's start-up and lifespan errors
        logger.addHandler(handler)
        try:
            self.thread.start()
            deadline = time.monotonic() + START_SECONDS
            while not self.server.started:
                if not self.thread.is_alive():
                    raise RuntimeError(f"test server died while starting:\n{self._captured()}")
                if time.monotonic() > deadline:
                    self.server.should_exit = True
                    raise RuntimeError(
                        f"test server did not start within {START_SECONDS:.0f} s:\n"
                        + self._captured()
                    )
                time.sleep(0.02)
        finally:
            logger.removeHandler(handler)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)

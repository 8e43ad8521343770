"""A loopback HTTP model mirror for tests: serves each file well or badly, and counts requests per file.

Modes: ``good`` (the bytes), ``corrupt`` (same length, bytes flipped), ``missing`` (404), ``drop``
(announces the full length, sends half, closes), ``slow`` (never answers until stopped), ``trickle``
(the good bytes in 20 pieces 0.1 s apart, so a progress display has something to show).
It binds 127.0.0.1 only and stops itself after ``lifetime`` seconds if a test forgets to.
"""

from __future__ import annotations

import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Literal

Mode = Literal["good", "corrupt", "missing", "drop", "slow", "trickle"]


def corrupt(data: bytes) -> bytes:
    """Bytes -> a copy of the same length with every 4096th byte flipped (fails any checksum)."""
    out = bytearray(data)
    for i in range(0, len(out), 4096):
        out[i] ^= 0xFF
    return bytes(out)


class Mirror:
    """A threaded HTTP server on 127.0.0.1; ``url`` is the base to put in REMOVE_BACKGROUND_MODEL_URL."""

    def __init__(self, lifetime: float = 900) -> None:
        self._routes: dict[str, tuple[Mode, bytes]] = {}
        self._counts: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}/models/"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._timer = threading.Timer(lifetime, self.stop)  # a forgotten mirror must not outlive the run
        self._timer.daemon = True

    def serve(self, name: str, mode: Mode, data: bytes = b"") -> None:
        """File name under the base URL, how to serve it, and its good bytes."""
        with self._lock:
            self._routes[name] = (mode, data)

    def count(self, name: str) -> int:
        """File name -> how many requests for it arrived so far."""
        with self._lock:
            return self._counts[name]

    def total(self) -> int:
        """How many requests arrived for anything."""
        with self._lock:
            return sum(self._counts.values())

    def start(self) -> "Mirror":
        self._thread.start()
        self._timer.start()
        return self

    def stop(self) -> None:
        """Release slow requests, then shut the server down; safe to call twice."""
        if self._stopping.is_set():
            return
        self._stopping.set()
        self._timer.cancel()
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> "Mirror":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _route(self, path: str) -> tuple[str, Mode, bytes]:
        name = path.split("?")[0].rsplit("/", 1)[-1]
        with self._lock:
            self._counts[name] += 1
            mode, data = self._routes.get(name, ("missing", b""))
        return name, mode, data

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        mirror = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                name, mode, data = mirror._route(self.path)
                if mode == "slow":
                    mirror._stopping.wait()  # hold the request unanswered until the mirror stops
                    self.close_connection = True
                    return
                if mode == "missing":
                    self.send_error(404)  # "Not Found", as GitHub answers
                    return
                body = corrupt(data) if mode == "corrupt" else data
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if mode == "drop":
                    self.wfile.write(body[: len(body) // 2])
                    self.wfile.flush()
                    self.close_connection = True  # the server closes the socket mid-body
                    return
                if mode == "trickle":
                    step = max(len(body) // 20, 1)
                    for i in range(0, len(body), step):
                        self.wfile.write(body[i : i + step])
                        self.wfile.flush()
                        if mirror._stopping.wait(0.1):
                            return
                    return
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass  # the counts are the record; keep test output quiet

        return Handler

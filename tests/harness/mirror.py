"""A loopback HTTP model mirror for tests: serves each file well or badly, and counts requests per file.

Modes: ``good`` (the bytes), ``corrupt`` (same length, bytes flipped), ``missing`` (404), ``drop``
(announces the full length, sends half, closes), ``slow`` (never answers until stopped), ``gate``
(announces the full length, sends half, then waits until the test calls ``release`` for that file, so a
progress display is seen mid-download whatever the machine's speed; stopping the mirror releases it too).
It binds 127.0.0.1 only; use it as a context manager (its threads are daemons, so a forgotten one ends with the run).
"""

from __future__ import annotations

import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Literal

Mode = Literal["good", "corrupt", "missing", "drop", "slow", "gate"]


def corrupt(data: bytes) -> bytes:
    """Bytes -> a copy of the same length with every 4096th byte flipped (fails any checksum)."""
    out = bytearray(data)
    for i in range(0, len(out), 4096):
        out[i] ^= 0xFF
    return bytes(out)


class Mirror:
    """A threaded HTTP server on 127.0.0.1; ``url`` is the base to put in REMOVE_BACKGROUND_MODEL_URL."""

    def __init__(self) -> None:
        self._routes: dict[str, tuple[Mode, bytes]] = {}
        self._gates: dict[str, threading.Event] = {}  # per gated file: set when its requests may send the rest
        self._counts: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._arrived = threading.Condition(self._lock)  # notified as each request arrives
        self._stopping = threading.Event()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}/models/"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    def serve(self, name: str, mode: Mode, data: bytes = b"") -> None:
        """File name under the base URL, how to serve it, and its good bytes (``gate``: closed until ``release``)."""
        with self._lock:
            self._routes[name] = (mode, data)
            if mode == "gate":
                self._gates[name] = threading.Event()
                if self._stopping.is_set():
                    self._gates[name].set()

    def release(self, name: str) -> None:
        """Let the gated requests for this file send the rest of their body."""
        with self._lock:
            gate = self._gates.get(name)
        if gate is None:
            raise KeyError(f"{name} is not served in gate mode")
        gate.set()

    def count(self, name: str) -> int:
        """File name -> how many requests for it arrived so far."""
        with self._lock:
            return self._counts[name]

    def wait_for_request(self, name: str, timeout: float) -> bool:
        """File name and a bound in seconds -> whether a request for it arrived (waits for the first)."""
        with self._arrived:
            return self._arrived.wait_for(lambda: self._counts[name] > 0, timeout)

    def total(self) -> int:
        """How many requests arrived for anything."""
        with self._lock:
            return sum(self._counts.values())

    def start(self) -> "Mirror":
        self._thread.start()
        return self

    def stop(self) -> None:
        """Release slow and gated requests, then shut the server down; safe to call twice."""
        with self._lock:
            if self._stopping.is_set():
                return
            self._stopping.set()
            gates = list(self._gates.values())
        for gate in gates:
            gate.set()
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> "Mirror":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _route(self, path: str) -> tuple[str, Mode, bytes, threading.Event | None]:
        name = path.split("?")[0].rsplit("/", 1)[-1]
        with self._lock:
            self._counts[name] += 1
            self._arrived.notify_all()
            mode, data = self._routes.get(name, ("missing", b""))
            gate = self._gates.get(name) if mode == "gate" else None
        return name, mode, data, gate

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        mirror = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                name, mode, data, gate = mirror._route(self.path)
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
                if mode in ("drop", "gate"):
                    self.wfile.write(body[: len(body) // 2])
                    self.wfile.flush()
                    if mode == "drop":
                        self.close_connection = True  # the server closes the socket mid-body
                        return
                    assert gate is not None
                    gate.wait()  # until the test releases this file, or the mirror stops
                    if mirror._stopping.is_set():
                        self.close_connection = True  # stopping: the rest is never sent
                        return
                    self.wfile.write(body[len(body) // 2 :])
                    return
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass  # the counts are the record; keep test output quiet

        return Handler

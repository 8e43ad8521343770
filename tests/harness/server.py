"""Start a real headless invokeai-web on loopback with the pack in its nodes folder, and drive it over REST."""

from __future__ import annotations

import io
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests
from PIL import Image

REPO = Path(__file__).resolve().parents[2]
PACK = REPO / "remove_background_node"
QUEUE = "/api/v1/queue/default"
_PORT = re.compile(r"running on http://127\.0\.0\.1:(\d+)")
DONE = {"completed", "failed", "canceled"}


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def install_pack(root: Path) -> Path:
    """Copy the pack into ``root/nodes/`` the way a user drops it there; returns the copy."""
    target = root / "nodes" / PACK.name
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(PACK, target, ignore=shutil.ignore_patterns("__pycache__"))
    return target


class Server:
    """One invokeai-web process rooted at ``root``; use as a context manager."""

    def __init__(self, root: Path, env: dict[str, str] | None = None, memory_db: bool = True, with_pack: bool = True):
        self.root = root
        self._with_pack = with_pack
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = root / "server.log"
        self._env = dict(os.environ, INVOKEAI_HOST="127.0.0.1", INVOKEAI_PORT=str(self.port))
        self._env.pop("PYTEST_VERSION", None)  # the server is not under pytest: see the repository's __init__.py
        if memory_db:
            self._env["INVOKEAI_USE_MEMORY_DB"] = "true"
        self._env.update(env or {})
        self._proc: subprocess.Popen[bytes] | None = None
        self.http = _loopback_session()
        # A fresh connection for every request: a server whose event loop a busy machine has kept from running
        # past its keep-alive timeout (uvicorn's 5 s) may close an idle connection just as the next request
        # goes out on it ("Connection reset by peer"), and a POST cannot safely be sent again.
        self.http.headers["Connection"] = "close"

    def start(self, timeout: float = 300) -> "Server":
        """Start the server and wait until it answers (on the port it took: InvokeAI moves to the next free
        one if another process took ours in the meantime)."""
        self.root.mkdir(parents=True, exist_ok=True)
        if self._with_pack:
            install_pack(self.root)
        exe = Path(sys.executable).with_name("invokeai-web")
        # a restart on the same root appends to the same log: only this start's lines name its port
        since = len(self.log())
        log = open(self.log_path, "ab")
        self._proc = subprocess.Popen(
            [str(exe), "--root", str(self.root)], env=self._env, stdout=log, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(
                    f"invokeai-web exited with {self._proc.returncode}; the end of {self.log_path}:\n{self.log()[-4000:]}"
                )
            moved = _PORT.search(self.log()[since:])
            if moved and int(moved.group(1)) != self.port:
                self.port = int(moved.group(1))
                self.url = f"http://127.0.0.1:{self.port}"
            try:
                if self.http.get(self.url + "/api/v1/app/version", timeout=2).ok:
                    return self
            except requests.RequestException:  # refused while it starts, or slow to answer on a busy machine
                pass
            time.sleep(0.5)  # polling the server's own answer; nothing here depends on how long it takes
        self.stop()
        raise TimeoutError(f"invokeai-web did not answer within {timeout} s; the end of {self.log_path}:\n{self.log()[-4000:]}")

    def stop(self) -> None:
        if self._proc and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(30)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._proc = None

    def __enter__(self) -> "Server":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    # REST calls, as InvokeAI's web UI and API clients make them

    def upload(self, image: Image.Image | Path, name: str = "input.png") -> str:
        """A PIL image or image file -> the image_name InvokeAI stored it under."""
        if isinstance(image, Path):
            data, name = image.read_bytes(), image.name
        else:
            buf = io.BytesIO()
            image.save(buf, "PNG")
            data = buf.getvalue()
        mime = "image/jpeg" if name.lower().endswith((".jpg", ".jpeg")) else "image/png"
        r = self.http.post(
            self.url + "/api/v1/images/upload",
            params={"image_category": "user", "is_intermediate": "false"},
            files={"file": (name, data, mime)},
            timeout=60,
        )
        r.raise_for_status()
        return r.json()["image_name"]

    def enqueue(self, nodes: dict[str, dict[str, Any]], edges: list[tuple[str, str, str, str]] = ()) -> requests.Response:
        """Nodes {id: fields} and edges (src, field, dst, field) -> the raw enqueue response."""
        graph = {
            "id": uuid.uuid4().hex,
            "nodes": {nid: {"id": nid, "is_intermediate": False, "use_cache": False, **n} for nid, n in nodes.items()},
            "edges": [
                {"source": {"node_id": s, "field": sf}, "destination": {"node_id": d, "field": df}}
                for s, sf, d, df in edges
            ],
        }
        body = {"batch": {"graph": graph, "runs": 1, "origin": "external"}, "prepend": False}
        return self.http.post(self.url + QUEUE + "/enqueue_batch", json=body, timeout=60)

    def run(self, nodes: dict[str, dict[str, Any]], edges: list[tuple[str, str, str, str]] = (), timeout: float = 600) -> dict[str, Any]:
        """Enqueue a graph and wait for it -> the finished queue item (status, session, errors)."""
        r = self.enqueue(nodes, edges)
        if r.status_code != 200:
            raise RuntimeError(f"enqueue refused with HTTP {r.status_code}: {r.text[:2000]}")
        return self.wait(self.item_id(r), timeout)

    def item_id(self, enqueued: requests.Response) -> int:
        """The answer of enqueue_batch -> the id of its (first) queue item.

        InvokeAI 6 answers with item_ids; 5.x does not, so its queue is listed (GET /list, pages
        ordered by priority, then item id) and the batch's item found by batch_id.
        """
        answer = enqueued.json()
        if answer.get("item_ids"):
            return answer["item_ids"][0]
        batch_id = answer["batch"]["batch_id"]
        params: dict[str, Any] = {"limit": 1000}
        while True:
            page = self.http.get(f"{self.url}{QUEUE}/list", params=params, timeout=30).json()
            ids = [i["item_id"] for i in page["items"] if i["batch_id"] == batch_id]
            if ids:
                return min(ids)
            if not page["has_more"] or not page["items"]:
                raise LookupError(f"no queue item for batch {batch_id}")
            last = page["items"][-1]
            params = {"limit": 1000, "cursor": last["item_id"], "priority": last["priority"]}

    def version(self) -> str:
        """-> the server's InvokeAI version."""
        return self.http.get(self.url + "/api/v1/app/version", timeout=30).json()["version"]

    def events(self) -> "Events":
        """-> a live recording of the queue's socket.io events (use as a context manager)."""
        return Events(self.url)

    def wait(self, item_id: int, timeout: float = 600) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                item = self.item(item_id)
            except requests.Timeout:  # a server busy with 4K matting may answer late; a dead one still raises
                continue
            if item["status"] in DONE:
                return item
            time.sleep(0.2)
        raise TimeoutError(f"queue item {item_id} did not finish in {timeout} s")

    def item(self, item_id: int) -> dict[str, Any]:
        r = self.http.get(f"{self.url}{QUEUE}/i/{item_id}", timeout=30)
        r.raise_for_status()
        return r.json()

    def cancel(self, item_id: int) -> None:
        self.http.put(f"{self.url}{QUEUE}/i/{item_id}/cancel", timeout=30).raise_for_status()

    @staticmethod
    def output(item: dict[str, Any], node_id: str) -> dict[str, Any]:
        """A finished queue item and a node id from the graph -> that node's output fields."""
        session = item["session"]
        prepared = session["source_prepared_mapping"][node_id][0]
        return session["results"][prepared]

    def image(self, image_name: str) -> Image.Image:
        r = self.http.get(f"{self.url}/api/v1/images/i/{image_name}/full", timeout=60)
        r.raise_for_status()
        image = Image.open(io.BytesIO(r.content))
        image.load()
        return image

    def upload_video(self, path: Path) -> str:
        """An MP4 file -> the video_name InvokeAI stored it under."""
        r = self.http.post(
            self.url + "/api/v1/videos/upload",
            params={"video_category": "general", "is_intermediate": "false"},
            files={"file": (path.name, path.read_bytes(), "video/mp4")},
            timeout=120,
        )
        r.raise_for_status()
        return r.json()["video_name"]

    def video_file(self, video_name: str, folder: Path) -> Path:
        """A stored video's name and a folder -> the MP4 downloaded into it."""
        r = self.http.get(f"{self.url}/api/v1/videos/i/{video_name}/full", timeout=120)
        r.raise_for_status()
        path = folder / video_name
        path.write_bytes(r.content)
        return path

    def image_bytes(self, image_name: str) -> bytes:
        r = self.http.get(f"{self.url}/api/v1/images/i/{image_name}/full", timeout=60)
        r.raise_for_status()
        return r.content

    def dto(self, image_name: str) -> dict[str, Any]:
        r = self.http.get(f"{self.url}/api/v1/images/i/{image_name}", timeout=30)
        r.raise_for_status()
        return r.json()


class Events:
    """The default queue's socket.io events (invocation_progress, queue_item_status_changed, ...), as they arrive.

    Tests wait on these instead of on the clock: "the node reported alpha matting" is an event.
    """

    def __init__(self, url: str):
        import socketio  # python-socketio ships with InvokeAI; websocket-client (a test extra) carries it

        self._events: list[tuple[str, dict[str, Any]]] = []
        self._changed = threading.Condition()
        self._client = socketio.Client(reconnection=False, http_session=_loopback_session())
        self._client.on("*", self._record)
        self._client.connect(url, socketio_path="/ws/socket.io", transports=["websocket"], wait_timeout=30)
        # call() waits for the server's acknowledgement, so the subscription is in place on return
        self._client.call("subscribe_queue", {"queue_id": "default"}, timeout=30)

    def _record(self, name: str, data: Any) -> None:
        with self._changed:
            self._events.append((name, data if isinstance(data, dict) else {"data": data}))
            self._changed.notify_all()

    def wait_for(self, predicate: Callable[[str, dict[str, Any]], bool], timeout: float = 600) -> dict[str, Any]:
        """A test on (event name, payload) -> the first payload that passes it, waiting for it to arrive."""
        deadline = time.monotonic() + timeout
        seen = 0
        with self._changed:
            while True:
                for name, data in self._events[seen:]:
                    if predicate(name, data):
                        return data
                seen = len(self._events)
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"no matching event in {timeout} s; the last ones: {self._events[-5:]}")
                self._changed.wait(left)

    def finished(self, item_id: int, timeout: float = 600) -> dict[str, Any]:
        """A queue item -> its status event once it completed, failed or was canceled (waiting for it).

        The socket can run behind REST: an item REST reports done may still have events on the way.
        The status event is sent after every progress event of the item, on the same socket."""
        return self.wait_for(
            lambda n, d: n == "queue_item_status_changed" and d.get("item_id") == item_id and d.get("status") in DONE,
            timeout,
        )

    def progress(self, item_id: int) -> list[tuple[str, float | None]]:
        """A queue item -> the (message, percentage) of every invocation_progress event it sent, once it finished."""
        self.finished(item_id)
        with self._changed:
            return [(d["message"], d.get("percentage")) for n, d in self._events
                    if n == "invocation_progress" and d.get("item_id") == item_id]

    def close(self) -> None:
        self._client.disconnect()

    def __enter__(self) -> "Events":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _loopback_session() -> requests.Session:
    """-> an HTTP session for the local server."""
    session = requests.Session()
    session.trust_env = False  # loopback only, never through a proxy
    return session

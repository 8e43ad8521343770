"""Start a real headless invokeai-web on loopback with the pack in its nodes folder, and drive it over REST."""

from __future__ import annotations

import io
import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import requests
from PIL import Image

REPO = Path(__file__).resolve().parent.parent
PACK = REPO / "remove_background_node"
QUEUE = "/api/v1/queue/default"
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
        if memory_db:
            self._env["INVOKEAI_USE_MEMORY_DB"] = "true"
        self._env.update(env or {})
        self._proc: subprocess.Popen[bytes] | None = None
        self.http = requests.Session()
        self.http.trust_env = False  # loopback only, never through a proxy

    def start(self, timeout: float = 300) -> "Server":
        self.root.mkdir(parents=True, exist_ok=True)
        if self._with_pack:
            install_pack(self.root)
        exe = Path(sys.executable).with_name("invokeai-web")
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
            try:
                if self.http.get(self.url + "/api/v1/app/version", timeout=2).ok:
                    return self
            except requests.ConnectionError:
                pass
            time.sleep(0.5)
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

    # REST calls (see ../shared/research/invokeai.md section 7.4)

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
        return self.wait(r.json()["item_ids"][0], timeout)

    def wait(self, item_id: int, timeout: float = 600) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            item = self.item(item_id)
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

    def image_bytes(self, image_name: str) -> bytes:
        r = self.http.get(f"{self.url}/api/v1/images/i/{image_name}/full", timeout=60)
        r.raise_for_status()
        return r.content

    def dto(self, image_name: str) -> dict[str, Any]:
        r = self.http.get(f"{self.url}/api/v1/images/i/{image_name}", timeout=30)
        r.raise_for_status()
        return r.json()

"""Installing this repository with InvokeAI's own Node Manager (a git clone into nodes/) works."""

from __future__ import annotations

import subprocess

import pytest
from PIL import Image

from tests.harness import weights
from tests.harness.server import REPO, Server

pytestmark = pytest.mark.invokeai("6.13.0", feature="Node Manager")


def test_node_manager_install_from_git_registers_the_node_and_its_workflows(tmp_path):
    source = tmp_path / "remote" / "remove-background-node.git"
    subprocess.run(["git", "clone", "--quiet", "--bare", str(REPO), str(source)], check=True)
    root = tmp_path / "root"
    weights.place(root, "u2netp")
    with Server(root, with_pack=False) as server:
        r = server.http.post(server.url + "/api/v2/custom_nodes/install", json={"source": str(source)}, timeout=300)
        r.raise_for_status()
        answer = r.json()
        assert answer["success"], answer["message"]
        assert answer["requires_dependencies"] and answer["dependency_file"] == "pyproject.toml"
        shipped = sorted((REPO / "remove_background_node" / "workflows").glob("*.json"))
        assert answer["workflows_imported"] == len(shipped)

        name = server.upload(Image.new("RGB", (40, 30), (200, 30, 30)))
        item = server.run({"rb": {"type": "remove_background", "image": {"image_name": name}, "model": "u2netp"}})
        assert item["status"] == "completed", item.get("error_traceback")
        assert "remove-background-node" in server.log()

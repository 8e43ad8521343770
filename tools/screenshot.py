"""Take .readme/node.png: a real screenshot of the node in InvokeAI's workflow editor.

Starts a headless invokeai-web (tests.harness.server.Server) with the pack and u2netp, puts the example
workflow "crop to the subject" into its workflow library over REST, then drives headless
Chromium with playwright-core (npm) to open that workflow in the editor and photograph the
Remove Background node. Needs `chromium` on PATH (apt-get install -y chromium) and node/npm;
playwright-core is installed into .cache/screenshot/ on first use.
Usage: python -m tools.screenshot [--out .readme/node.png] [--steps DIR]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import tempfile
from pathlib import Path

from tests.harness import weights
from tests.harness.server import REPO, Server

NPM_DIR = REPO / ".cache" / "screenshot"
WORKFLOW = REPO / "remove_background_node" / "workflows" / "crop_to_subject.json"
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]

# The browser half: open the editor, load the workflow from the library, photograph the node.
DRIVER = r"""
const { chromium } = require(process.env.PLAYWRIGHT_CORE);
const cfg = JSON.parse(process.argv[2]);
const shot = async (page, name) => { if (cfg.steps) await page.screenshot({ path: `${cfg.steps}/${name}.png` }); };
(async () => {
  // A fresh profile directory every run (playwright passes it as --user-data-dir).
  const browser = await chromium.launchPersistentContext(cfg.profile, {
    executablePath: cfg.chromium, headless: true, args: cfg.flags,
    viewport: { width: 1600, height: 1400 }, deviceScaleFactor: 2,  // a sharper picture of a small node
  });
  const page = browser.pages()[0] || (await browser.newPage());
  await page.goto(cfg.url + "/", { waitUntil: "networkidle" });
  await page.waitForTimeout(3000);
  await shot(page, "1-home");
  // The Workflows tab, then its library, then our workflow by name.
  await page.locator('[data-testid="workflows-tab"], button[aria-label="Workflows"], [aria-label="Workflows"]').first().click();
  await page.waitForTimeout(2000);
  await shot(page, "2-workflows");
  const byName = page.getByText(cfg.name, { exact: true });
  if (!(await byName.count())) {
    await page.getByRole("button", { name: /library/i }).first().click();
    await page.waitForTimeout(1500);
  }
  await page.getByText("Your Workflows", { exact: true }).first().click();
  await page.waitForTimeout(1500);
  await shot(page, "3-library");
  await page.getByText(cfg.name, { exact: true }).first().click();
  await page.waitForTimeout(1500);
  // "Your current workflow has unsaved changes": confirm.
  const confirm = page.getByRole("button", { name: "Load", exact: true });
  if (await confirm.count()) { await confirm.first().click(); await page.waitForTimeout(2500); }
  await shot(page, "4-loaded");
  // The workflow may open in its form view (Launchpad); switch to the graph.
  await page.getByText("Workflow Editor", { exact: true }).first().click();
  await page.waitForTimeout(2000);
  await page.getByRole("button", { name: /fit view/i }).first().click().catch(() => {});
  await page.waitForTimeout(1500);
  await shot(page, "5-editor");
  const node = page.locator(".react-flow__node").filter({ hasText: cfg.title }).first();
  await node.waitFor({ state: "visible", timeout: 30000 });
  await node.screenshot({ path: cfg.out });
  await browser.close();
})().catch((e) => { console.error(e); process.exit(1); });
"""


def playwright_core() -> Path:
    """Install playwright-core (no browsers: it drives the system chromium) once; -> its package dir."""
    package = NPM_DIR / "node_modules" / "playwright-core"
    if not package.exists():
        NPM_DIR.mkdir(parents=True, exist_ok=True)
        subprocess.run(["npm", "install", "--prefix", str(NPM_DIR), "--no-save", "playwright-core@1"], check=True)
    return package


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=REPO / ".readme" / "node.png")
    parser.add_argument("--steps", type=Path, help="also save a screenshot of every step here")
    args = parser.parse_args()

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if not chromium:
        print("chromium is not on PATH: apt-get install -y chromium")
        return 1
    package = playwright_core()
    workflow = json.loads(WORKFLOW.read_text())
    with tempfile.TemporaryDirectory() as tmp:
        root, profile = Path(tmp) / "root", Path(tmp) / "profile"
        weights.place(root, "u2netp")
        with Server(root) as server:
            r = server.http.post(server.url + "/api/v1/workflows/", json={"workflow": workflow}, timeout=60)
            r.raise_for_status()
            driver = Path(tmp) / "driver.js"
            driver.write_text(DRIVER)
            if args.steps:
                args.steps.mkdir(parents=True, exist_ok=True)
            cfg = {
                "url": server.url, "chromium": chromium, "flags": CHROMIUM_FLAGS, "profile": str(profile),
                "name": workflow["name"], "title": "Remove Background", "out": str(args.out.resolve()),
                "steps": str(args.steps.resolve()) if args.steps else "",
            }
            args.out.parent.mkdir(parents=True, exist_ok=True)
            done = subprocess.run(
                ["node", str(driver), json.dumps(cfg)], env={"PLAYWRIGHT_CORE": str(package), "PATH": "/usr/bin:/bin"}
            )
            if done.returncode != 0:
                print(f"the browser script failed; the server log is {server.log_path}")
                return done.returncode
    print(args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Prepare model files for offline use: list them, pre-download them into models/rembg, verify them.

    python -m remove_background_node.models_cli list [--markdown]
    python -m remove_background_node.models_cli download NAME... [--root ROOT | --dir DIR]
    python -m remove_background_node.models_cli verify [--root ROOT | --dir DIR]

The folder is ``rembg`` in InvokeAI's models folder (root: --root, else INVOKEAI_ROOT, else InvokeAI's default;
the models folder as InvokeAI's settings place it: INVOKEAI_MODELS_DIR, else models_dir in invokeai.yaml, else models).
Downloads honour REMOVE_BACKGROUND_MODEL_URL and REMOVE_BACKGROUND_DOWNLOAD_TIMEOUT (the node's own stall timeout)
and are checked against the catalog's checksums.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import requests
import yaml

from . import catalog, model_store


def models_dir(root: str | None, folder: str | None) -> Path:
    """--root and --dir options -> the folder model files go into: --dir, else ``rembg`` in the InvokeAI root's models
    folder, which InvokeAI's settings may move (INVOKEAI_MODELS_DIR, else ``models_dir`` in the root's invokeai.yaml)."""
    if folder:
        return Path(folder).expanduser()
    from invokeai.app.services.config.config_default import INIT_FILE, InvokeAIAppConfig

    base = Path(root) if root else InvokeAIAppConfig.find_root()  # find_root reads INVOKEAI_ROOT
    base = base.expanduser().absolute()  # as InvokeAI's root_path
    settings = InvokeAIAppConfig()  # the environment's settings, which win over the file's, as in InvokeAI
    models = settings.models_dir
    if "models_dir" not in settings.model_fields_set and (base / INIT_FILE).is_file():
        with open(base / INIT_FILE, encoding="utf-8") as file:
            from_file = yaml.safe_load(file)
        if isinstance(from_file, dict) and from_file.get("models_dir") is not None:
            models = Path(str(from_file["models_dir"]))
    return base / models / model_store.FOLDER  # as InvokeAI's models_path: a relative models_dir is under the root


def table(markdown: bool) -> str:
    """Flag -> the catalog as a markdown table (the README's) or aligned plain text."""
    header = ("model", "shown as", "input", "file in models/rembg", "release file", "size", "checksum", "licence")
    rows = [
        (m.name, m.label, f"{m.input_size}²", m.local_file, m.release_file, f"~{m.size_mb:g} MB", m.checksum, m.licence)
        for m in catalog.MODELS
    ]
    if markdown:
        code = {0, 3, 4, 6}  # names, files and checksums are literal text
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(f"`{c}`" if i in code else c for i, c in enumerate(r)) + " |" for r in rows]
        return "\n".join(lines)
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in [header, *rows])


def download(spec: catalog.ModelSpec, target_dir: Path) -> Path:
    """Spec and folder -> the verified file there, fetched from the mirror or rembg's release if missing."""
    present = model_store.find_local(spec, target_dir, Path(os.devnull))  # a bad file there is reported
    if present is not None:
        return present
    home = model_store.find_local(spec, Path(os.devnull), model_store.rembg_home())
    if home is not None:  # carrying files to another machine: copy rembg's verified copy, no network
        return model_store.copy_into(target_dir, home, spec)
    url = model_store.source_url(spec)
    target_dir.mkdir(parents=True, exist_ok=True)
    partial = target_dir / (spec.local_file + model_store.PARTIAL_SUFFIX)
    try:
        with requests.get(url, stream=True, timeout=model_store.stall_timeout()) as response:  # never hangs
            response.raise_for_status()
            with open(partial, "wb") as f:
                for block in response.iter_content(1 << 20):
                    f.write(block)
    except (OSError, requests.RequestException) as error:
        partial.unlink(missing_ok=True)  # never leave a half-written file behind
        raise model_store.ModelFileError(
            f"Could not download {spec.name} from {url}: {error}. {model_store.placement_hint(spec, target_dir)}"
        ) from error
    if not model_store.VERIFIED.check(partial, spec.checksum):
        partial.unlink()
        raise model_store.ModelFileError(
            f"{url} sent a file that does not match the {spec.name} checksum {spec.checksum}; it was deleted. "
            f"Fix the mirror or try again. {model_store.placement_hint(spec, target_dir)}"
        )
    return partial.replace(target_dir / spec.local_file)  # atomic: the name appears only when complete


def verify(target_dir: Path) -> list[str]:
    """Folder -> one line per model file found there or in rembg's home, 'ok' or 'BAD'."""
    lines = []
    for spec in catalog.MODELS:
        for path in [target_dir / n for n in spec.file_names] + [model_store.rembg_home() / spec.local_file]:
            if path.is_file():
                ok = model_store.VERIFIED.check(path, spec.checksum)
                lines.append(f"{'ok ' if ok else 'BAD'} {spec.name:24} {path} ({spec.checksum})")
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line arguments -> exit status (0 fine, 1 a file failed or could not be fetched)."""
    parser = argparse.ArgumentParser(prog="python -m remove_background_node.models_cli", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="list the models, files and checksums").add_argument("--markdown", action="store_true")
    for name in ("download", "verify"):
        p = sub.add_parser(name, help=f"{name} model files in rembg/ of InvokeAI's models folder")
        if name == "download":
            p.add_argument("names", nargs="+", metavar="NAME", choices=[*catalog.MODEL_NAMES, "all"])
        p.add_argument("--root", help="the InvokeAI root folder (default: INVOKEAI_ROOT)")
        p.add_argument("--dir", help="an explicit folder instead of rembg/ in InvokeAI's models folder")
    args = parser.parse_args(argv)

    if args.command == "list":
        print(table(args.markdown))
        return 0
    target = models_dir(args.root, args.dir)
    if args.command == "verify":
        lines = verify(target)
        print("\n".join(lines) or f"No model files in {target} or {model_store.rembg_home()}.")
        return 1 if any(line.startswith("BAD") for line in lines) else 0
    names = catalog.MODEL_NAMES if "all" in args.names else args.names
    status = 0
    for name in names:
        try:
            print(f"ok  {name}: {download(catalog.get(name), target)}")
        except model_store.ModelFileError as error:
            print(f"ERR {name}: {error}", file=sys.stderr)
            status = 1
    return status


if __name__ == "__main__":
    sys.exit(main())

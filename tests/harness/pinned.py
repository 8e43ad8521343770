"""The node's default outputs for rembg's fixtures with u2net, pinned in tests/fixtures/pinned/.

For each fixture three files: what the model's predict gave (``<name>.model-mask.png``), and the
node's default cutout and mask made from it. The model's own output can move by a level on a
CPU whose onnxruntime kernels differ, so it is compared with a tolerance; everything the pack does
after it is pinned byte for byte. Rewrite the files only for a deliberate change of the defaults:
python -m tests.harness.pinned
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from tests.harness import fixtures

PINNED = Path(__file__).resolve().parents[1] / "fixtures" / "pinned"
MODEL = "u2net"


def paths(photo: Path) -> dict[str, Path]:
    """A fixture picture -> the pinned files for it: model mask, cutout and mask."""
    stem = f"{photo.stem}.{MODEL}"
    return {kind: PINNED / f"{stem}.{kind}.png" for kind in ("model-mask", "cutout", "mask")}


def record() -> None:
    """Run the real u2net and the pipeline at its defaults on every fixture and write the pinned files."""
    from remove_background_node import pipeline
    from tests.harness import weights

    predict = weights.cpu_predictor(MODEL)
    PINNED.mkdir(parents=True, exist_ok=True)
    for photo in fixtures.PHOTOS:
        image = Image.open(photo)
        (model_mask,) = predict(image.convert("RGB"))
        result = pipeline.remove_background(image, lambda _: [model_mask])
        files = paths(photo)
        model_mask.save(files["model-mask"])
        result.cutout.save(files["cutout"])
        result.mask.save(files["mask"])
        print(*files.values(), sep="\n")


if __name__ == "__main__":
    record()

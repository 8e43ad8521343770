"""Where the committed test fixtures are: rembg's pictures and its expected results (MIT, see their README)."""

from __future__ import annotations

from pathlib import Path

REMBG = Path(__file__).resolve().parents[1] / "fixtures" / "rembg"
ANIME = REMBG / "anime-girl-1.jpg"
PHOTOS = tuple(REMBG / name for name in ("anime-girl-1.jpg", "car-1.jpg", "cloth-1.jpg"))
# every picture of rembg's tests: the edge-colour benchmark measures on these (plants-1 only there)
EDGE_PHOTOS = (*PHOTOS, REMBG / "plants-1.jpg")


def expected(model: str) -> Path:
    """u2netp or u2net -> rembg's expected cutout of anime-girl-1 with that model (rembg's tests/results)."""
    return REMBG / f"anime-girl-1.{model}.png"


def sample_photo(file: str) -> Path:
    """A sample photo's file name as scikit-image ships it (rembg requires scikit-image), e.g. coffee.png -> its path:
    photos the pack's edge colours were not first built on."""
    import skimage.data

    return Path(skimage.data.__file__).parent / file


def grace_hopper() -> Path:
    """-> the portrait matplotlib ships (InvokeAI brings matplotlib): another photo the edge colours were not built on."""
    import matplotlib.cbook

    return Path(matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))

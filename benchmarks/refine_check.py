"""Refine Cutout on a hard mask a few pixels off: its error against the mask's own, on subjects over photographs.

    python -m benchmarks.refine_check [--slack 4] [--erode 15]

Ground truth by construction (tests.harness.scenes.subject_over_photo): a subject's matte is a
model's alpha of its photo made opaque inside (scenes.known_matte; for anime-girl-1 rembg's expected
u2net result, for the others u2net's own), and the subject, so matted, is placed over a photograph.
The mask is the true matte thresholded at 128 and grown by --slack pixels, as a Segment Anything or
canvas mask is a few pixels off. The error is the mean |alpha - truth| over the whole picture, in
levels; the ratio is Refine Cutout's error over the mask's own. Beside it, rembg's trimap rule alone
(the band before the mask's narrow parts kept a sure middle), solved by the same matting. In
process, no InvokeAI.
"""

from __future__ import annotations

import argparse

import numpy as np
from PIL import Image

from benchmarks.machine import header
from benchmarks.targets import line
from remove_background_node import matting, pipeline
from tests.harness import fixtures, scenes
from tests.harness.weights import cpu_predictor

SCENE_WIDTH, SUBJECT_WIDTH, AT = 1200, 850, (100, 100)


def subjects() -> dict[str, tuple[Image.Image, np.ndarray]]:
    """-> name: (subject photo, its known matte) for anime-girl-1, car-1, cloth-1 and two scikit-image photos."""
    predict = cpu_predictor("u2net")
    out = {"anime-girl-1": (Image.open(fixtures.ANIME).convert("RGB"), scenes.anime_matte())}
    paths = {"car-1": fixtures.REMBG / "car-1.jpg", "cloth-1": fixtures.REMBG / "cloth-1.jpg",
             "coffee": fixtures.sample_photo("coffee.png"), "motorcycle": fixtures.sample_photo("motorcycle_left.png")}
    for name, path in paths.items():
        photo = Image.open(path).convert("RGB")
        out[name] = (photo, scenes.known_matte(np.asarray(predict(photo)[0].convert("L"))))
    return out


def backgrounds() -> dict[str, Image.Image]:
    """-> name: photograph to place the subjects over."""
    return {"car-1": Image.open(fixtures.REMBG / "car-1.jpg"), "plants-1": Image.open(fixtures.REMBG / "plants-1.jpg"),
            "astronaut": Image.open(fixtures.sample_photo("astronaut.png")),
            "grace_hopper": Image.open(fixtures.grace_hopper())}


def main(argv: list[str] | None = None) -> None:
    """Command line -> prints each subject over each photograph: the mask's error, Refine Cutout's, rembg's rule's."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slack", type=int, default=4, help="pixels the hard mask is grown by (negative: shrunk)")
    parser.add_argument("--erode", type=int, default=15, help="Refine Cutout's erode_size")
    args = parser.parse_args(argv)
    header("Refine Cutout: a hard mask a few pixels off, refined")
    print(f"\n## mask grown by {args.slack} px, erode size {args.erode}; error in levels, ratios against the mask's own")
    print(f"{'subject':14}{'photograph':14}{'mask':>7}{'refined':>9}{'ratio':>7}{'rembg rule':>12}{'ratio':>7}")
    options = pipeline.Options(alpha_matting=True, alpha_matting_erode_size=args.erode)
    thresholds = options.alpha_matting_foreground_threshold, options.alpha_matting_background_threshold
    photos = backgrounds()
    ratios = []
    for subject_name, (subject, matte) in subjects().items():
        size = (SUBJECT_WIDTH, round(subject.height * SUBJECT_WIDTH / subject.width))
        for photo_name, photo in photos.items():
            scene = (SCENE_WIDTH, max(900, size[1] + 200))
            rgb, truth, _ = scenes.subject_over_photo(subject, matte, photo, scene, size, AT)
            mask = scenes.hard_mask(truth, args.slack)
            cutout = pipeline.refine_cutout(Image.fromarray(rgb), Image.fromarray(mask), None, options)
            refined = scenes.alpha_error(cutout.mask, truth)
            rule = scenes.alpha_error(matting.solve(rgb, matting.trimap(mask, *thresholds, args.erode)), truth)
            own = scenes.alpha_error(mask, truth)
            ratios.append(refined / own)
            print(f"{subject_name:14}{photo_name:14}{own:7.2f}{refined:9.2f}{ratios[-1]:7.2f}{rule:12.2f}{rule / own:7.2f}")
    print(f"# mean ratio {np.mean(ratios):.3f}")
    other = "" if (args.slack, args.erode) == (4, 15) else f"   (measured at {args.slack} px and erode size {args.erode})"
    print(line("refine_slack", max(ratios), f"{max(ratios):.3f}x (the largest of {len(ratios)})") + other)


if __name__ == "__main__":
    main()

"""Every target the project's issues set, in one place: what is measured, the bound, and which way it goes.

The benchmarks print each figure beside its target with "met" or "NOT met"; nothing passes or fails
on it (timings on a shared machine are figures, not verdicts). A target is only ever compared with a
figure measured in the same run against a baseline measured in that run too.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Target:
    text: str  # what the figure is, in a few words
    bound: float
    at_most: bool  # True: the figure must not exceed the bound; False: it must reach it
    unit: str = "x"  # how the bound reads: "x" for a ratio, "MB", "%", "levels"
    side: int | None = None  # the square picture's side the target is stated for, if it names one

    def met(self, value: float) -> bool:
        """A measured figure -> whether it is on the right side of the bound."""
        return value <= self.bound if self.at_most else value >= self.bound

    def rule(self) -> str:
        """-> the bound as text, e.g. '<= 1.15x'."""
        return f"{'<=' if self.at_most else '>='} {self.bound:g}{self.unit if self.unit == 'x' else ' ' + self.unit}"


TARGETS: dict[str, Target] = {
    # the node against what InvokeAI's own nodes would spend on the same work (issue 5)
    "floor": Target("node time / floor (core-node image I/O + model inference)", 1.15, at_most=True, side=2048),
    # alpha matting against rembg's own (issue 5)
    "matting_speed": Target("alpha matting speed-up over rembg (rembg s / ours s)", 10.0, at_most=False, side=4096),
    "matting_memory": Target("alpha matting peak extra memory / rembg's", 0.25, at_most=True, side=4096),
    "matting_error": Target("alpha matting error / rembg's (mean |alpha - truth|)", 1.1, at_most=True, side=4096),
    # an opaque background colour must not cost much more memory than the plain cutout
    "background_memory": Target(
        "opaque background_color peak extra memory / the plain cutout's", 1.25, at_most=True, side=12000
    ),
    # a long run in one server must level off
    "soak_growth": Target("server RSS growth over the last 200 of a long run's items", 20.0, at_most=True, unit="MB"),
    # changing only a mask control after a 4096x4096 matting call reuses the matte
    "retweak_speed": Target(
        "re-tweak node time / first call's (alpha matting, only mask_grow changed)", 0.4, at_most=True, side=4096
    ),
    "retweak_equal": Target(
        "re-tweak mask vs a fresh server's for the same inputs, max |difference|", 1.0, at_most=True, unit="levels",
        side=4096,
    ),
    # refine_foreground over three old backgrounds
    "edge_colour": Target(
        "edge-colour error reduction by refine_foreground (over magenta, green and white)", 50.0, at_most=False, unit="%"
    ),
    "edge_colour_time": Target(
        "edge-colour estimate time / blur fusion's (refine_foreground when the bound was set)", 2.0, at_most=True,
        side=4096,
    ),
    # Refine Cutout on a hard mask with 4 px of slack, erode size 15, subjects over photographs (issue 12)
    "refine_slack": Target("Refine Cutout error / the hard mask's own (4 px of slack, erode size 15)", 0.5, at_most=True),
    # video (measured by the video benchmark, another engineer's)
    "video_speed": Target("video: speed-up over the notebook's way (frame by frame)", 1.5, at_most=False),
    "video_error": Target("video: alpha error / per-frame node's", 1.05, at_most=True),
    "video_flicker": Target("video: flicker / per-frame node's", 0.5, at_most=True),
    "video_memory": Target("video: peak memory for 240 frames / for 48 frames", 1.1, at_most=True),
}


def verdict(key: str, value: float) -> str:
    """A target's key and the measured figure -> 'met' or 'NOT met'."""
    return "met" if TARGETS[key].met(value) else "NOT met"


def line(key: str, value: float, shown: str | None = None, side: int | None = None) -> str:
    """A target's key, the measured figure, optionally how to show it and the side it was measured at -> one
    printable line with the verdict (and a word when that side is not the one the target is stated for)."""
    target = TARGETS[key]
    figure = shown if shown is not None else (f"{value:.3g}x" if target.unit == "x" else f"{value:.3g} {target.unit}")
    where = f" at {target.side}x{target.side}" if target.side else ""
    out = f"{target.text}{where}: {figure}   target {target.rule()}: {verdict(key, value)}"
    if target.side and side is not None and side != target.side:
        out += f"   (measured at {side}x{side}, not {target.side}x{target.side})"
    return out

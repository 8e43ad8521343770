"""Unmixing: each soft pixel's colour split along the line from the background's colour to the foreground's."""

from __future__ import annotations

import numpy as np

from ..kernels import kernel, readonly, writable
from .fill import _bilinear, _tap

_EPS = 1e-12
F2, F3, U3 = writable("float32", 2), writable("float32", 3), writable("uint8", 3)


def _unmix(
    i0: float, i1: float, i2: float, a: float, f0: float, f1: float, f2: float, b0: float, b1: float, b2: float,
    tau: float, width: float, power: float, amin: float,
) -> tuple[float, float, float]:
    """Pixel colour, model alpha and smooth F, B (0..255) -> the pixel's foreground colour, unmixed along the F-B line."""
    d0, d1, d2 = f0 - b0, f1 - b1, f2 - b2
    v0, v1, v2 = i0 - b0, i1 - b1, i2 - b2
    dd = d0 * d0 + d1 * d1 + d2 * d2 + 6.5  # (0.01 * 255)^2: a line of no length has no direction
    s = (v0 * d0 + v1 * d1 + v2 * d2) / dd  # where I sits on the line: 0 at B, 1 at F
    t = s - a
    q = (1.0 - a) / width
    lam = 1.0 / (1.0 + q**power)  # share of t that is detail along the line rather than a wrong alpha
    am = a + (1.0 - lam) * t
    tk = lam * t
    if am > 1.0:
        tk += am - 1.0
        am = 1.0
    elif am < amin:
        am = amin
    kd = tk / am
    g = am / (am * am + tau * (1.0 - am))
    p0, p1, p2 = v0 - s * d0, v1 - s * d1, v2 - s * d2  # across the line: foreground detail times alpha
    return f0 + kd * d0 + g * p0, f1 + kd * d1 + g * p1, f2 + kd * d2 + g * p2



@kernel(
    f"void({readonly('u1', 3)}, {readonly('u1', 2)}, i8, i8, {readonly('f4', 1)}, {readonly('f4', 1)}, {F3}, "
    f"i8, i8, i8, i8, f4, f4, f4, f4, f4, {F3}, {F2}, {F3})",
    helpers=(_tap, _bilinear, _unmix),
)
def first_pass(
    rgb: np.ndarray, alpha: np.ndarray, ry0: int, rx0: int, lut_f: np.ndarray, lut_b: np.ndarray, level1: np.ndarray,
    l1y0: int, l1x0: int, l1h_glob: int, l1w_glob: int, k_fill: float, tau: float, width: float, power: float,
    amin: float, num: np.ndarray, den: np.ndarray, bg: np.ndarray,
) -> None:
    """Region (origin ry0,rx0, size of num) -> alpha-weighted unmixed colours num, alpha den, and smooth B at soft pixels."""
    # Level 0 of the fill is done only at soft pixels: the bilinear level-1 value blended with the
    # pixel's own sample by its confidence. Opaque pixels give their own colour, clear ones nothing.
    h, w = den.shape
    for y in range(h):
        gy = ry0 + y
        ya, yb, fy = _tap(gy, l1y0, min(l1y0 + level1.shape[0], l1h_glob))
        ya -= l1y0
        yb -= l1y0
        for x in range(w):
            gx = rx0 + x
            a8 = alpha[gy, gx]
            if a8 == 0:
                num[y, x, 0] = num[y, x, 1] = num[y, x, 2] = 0.0
                den[y, x] = 0.0
                continue
            i0 = np.float32(rgb[gy, gx, 0])
            i1 = np.float32(rgb[gy, gx, 1])
            i2 = np.float32(rgb[gy, gx, 2])
            if a8 == 255:
                num[y, x, 0], num[y, x, 1], num[y, x, 2] = i0, i1, i2
                den[y, x] = 1.0
                continue
            xa, xb, fx = _tap(gx, l1x0, min(l1x0 + level1.shape[1], l1w_glob))
            xa -= l1x0
            xb -= l1x0
            w00, w01, w10, w11 = (1 - fy) * (1 - fx), (1 - fy) * fx, fy * (1 - fx), fy * fx
            tf = min(1.0, k_fill * lut_f[a8])
            tb = min(1.0, k_fill * lut_b[a8])
            f0 = tf * i0 + (1 - tf) * _bilinear(level1, ya, yb, xa, xb, w00, w01, w10, w11, 0)
            f1 = tf * i1 + (1 - tf) * _bilinear(level1, ya, yb, xa, xb, w00, w01, w10, w11, 1)
            f2 = tf * i2 + (1 - tf) * _bilinear(level1, ya, yb, xa, xb, w00, w01, w10, w11, 2)
            b0 = tb * i0 + (1 - tb) * _bilinear(level1, ya, yb, xa, xb, w00, w01, w10, w11, 3)
            b1 = tb * i1 + (1 - tb) * _bilinear(level1, ya, yb, xa, xb, w00, w01, w10, w11, 4)
            b2 = tb * i2 + (1 - tb) * _bilinear(level1, ya, yb, xa, xb, w00, w01, w10, w11, 5)
            a = np.float32(a8) / 255.0
            u0, u1, u2 = _unmix(i0, i1, i2, a, f0, f1, f2, b0, b1, b2, tau, width, power, amin)
            u0 = min(max(u0, 0.0), 255.0)
            u1 = min(max(u1, 0.0), 255.0)
            u2 = min(max(u2, 0.0), 255.0)
            num[y, x, 0], num[y, x, 1], num[y, x, 2] = a * u0, a * u1, a * u2
            den[y, x] = a
            bg[y, x, 0], bg[y, x, 1], bg[y, x, 2] = b0, b1, b2



@kernel(
    f"void({readonly('u1', 3)}, {readonly('u1', 2)}, i8, i8, i8, i8, i8, i8, {F3}, {F2}, {F3}, f4, f4, f4, f4, {U3})",
    helpers=(_unmix,),
)
def second_pass(
    rgb: np.ndarray, alpha: np.ndarray, ty0: int, tx0: int, ty1: int, tx1: int, ry0: int, rx0: int,
    num_box: np.ndarray, den_box: np.ndarray, bg: np.ndarray, tau: float, width: float, power: float, amin: float,
    out: np.ndarray,
) -> None:
    """Tile ty0..ty1 x tx0..tx1 -> out (the tile's own pixels, out[0, 0] at ty0, tx0) = unmixing of each soft
    pixel against the box-averaged unmixed colours."""
    for gy in range(ty0, ty1):
        y = gy - ry0
        for gx in range(tx0, tx1):
            a8 = alpha[gy, gx]
            if a8 == 0 or a8 == 255:
                continue
            x = gx - rx0
            d = den_box[y, x]
            if d <= _EPS:
                continue
            a = np.float32(a8) / 255.0
            u0, u1, u2 = _unmix(
                np.float32(rgb[gy, gx, 0]), np.float32(rgb[gy, gx, 1]), np.float32(rgb[gy, gx, 2]), a,
                num_box[y, x, 0] / d, num_box[y, x, 1] / d, num_box[y, x, 2] / d,
                bg[y, x, 0], bg[y, x, 1], bg[y, x, 2], tau, width, power, amin,
            )
            out[gy - ty0, gx - tx0, 0] = np.uint8(min(max(u0 + 0.5, 0.0), 255.0))
            out[gy - ty0, gx - tx0, 1] = np.uint8(min(max(u1 + 0.5, 0.0), 255.0))
            out[gy - ty0, gx - tx0, 2] = np.uint8(min(max(u2 + 0.5, 0.0), 255.0))



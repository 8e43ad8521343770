"""The picture-sized working array kept between calls: lent again to the next call, never to two at once, never kept
past its bound; and nothing a pipeline call returns shares it, so the next call cannot change an earlier result."""

from __future__ import annotations

import numpy as np
from PIL import Image

from remove_background_node import pipeline, scratch
from tests.harness.scenes import disc


def _address(a: np.ndarray) -> int:
    return a.__array_interface__["data"][0]


def test_the_next_call_gets_the_same_memory_and_a_smaller_one_shares_it():
    with scratch.picture_array((300, 200, 3)) as first:
        first[:] = 7
        address = _address(first)
    with scratch.picture_array((300, 200, 3)) as again:
        assert _address(again) == address
    with scratch.picture_array((100, 50, 3)) as smaller:
        assert _address(smaller) == address and smaller.shape == (100, 50, 3) and smaller.flags.writeable


def test_two_calls_at_once_get_separate_arrays():
    with scratch.picture_array((64, 64, 3)) as one, scratch.picture_array((64, 64, 3)) as two:
        assert not np.shares_memory(one, two)


def test_an_array_past_the_bound_is_not_kept():
    with scratch.picture_array((10, 10, 3)) as small:
        kept = _address(small)
    side = int((scratch.KEEP_UP_TO / 3) ** 0.5) + 1  # just past the bound
    with scratch.picture_array((side, side, 3)) as big:
        big[:] = 1
    with scratch.picture_array((10, 10, 3)) as small_again:
        assert _address(small_again) == kept, "the small array kept before was not given up for the big one"


def test_a_later_call_leaves_an_earlier_result_as_it_was():
    m = disc(96, 30, soft=8)
    first = pipeline.remove_background(
        Image.new("RGB", (96, 96), (200, 40, 40)), lambda image: [Image.fromarray(m)],
        pipeline.Options(refine_foreground=True),
    )
    cutout, mask = np.asarray(first.cutout).copy(), np.asarray(first.mask).copy()
    pipeline.remove_background(
        Image.new("RGB", (96, 96), (10, 200, 90)), lambda image: [Image.fromarray(255 - m)],
        pipeline.Options(refine_foreground=True),
    )
    assert (np.asarray(first.cutout) == cutout).all() and (np.asarray(first.mask) == mask).all()
    assert (cutout[m > 0, :3] == (200, 40, 40)).all()

"""The nodes' inputs as InvokeAI sets them: whole at enqueue, one at a time from edges while the graph runs."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from remove_background_node import RefineCutoutInvocation, RemoveBackgroundInvocation


@pytest.mark.parametrize(("node", "background", "foreground"), [
    (RemoveBackgroundInvocation, "alpha_matting_background_threshold", "alpha_matting_foreground_threshold"),
    (RefineCutoutInvocation, "background_threshold", "foreground_threshold"),
])
def test_crossed_thresholds_are_refused_and_one_arriving_later_is_not_stored(node, background, foreground):
    """InvokeAI sets a value from an edge by assignment: a crossed one stored before it was refused left InvokeAI
    unable to read its own session back, and its queue stuck."""
    with pytest.raises(ValidationError, match=rf"{background} \(200\) must be below {foreground} \(100\)"):
        node(id="n", **{foreground: 100, background: 200})
    made = node(id="n", **{foreground: 100, background: 50})
    for field, value in ((background, 250), (foreground, 20)):
        with pytest.raises(ValidationError, match="must be below"):
            setattr(made, field, value)
    assert (getattr(made, background), getattr(made, foreground)) == (50, 100), "neither refused value was stored"
    setattr(made, background, 99)
    assert getattr(made, background) == 99

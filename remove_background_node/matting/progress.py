"""How far a matting solve has come: each stage maps its own 0..1 onto the whole solve's 0..1."""

from __future__ import annotations

from collections.abc import Callable

Checkpoint = Callable[[float], None]  # called with the overall fraction done; whatever it raises stops the solve


class Fraction:
    """One stage's share [start, end] of the solve; calling it with the stage's own fraction reports the overall one.

    Every part of one solve shares the highest fraction reported, so the fraction never goes back
    (CG's residual does not fall monotonically). The fraction depends only on the work done, never
    on time, but not every call comes at a fixed point of the work: while blocks are factored,
    ``solver.block_ichol`` also calls the checkpoint every ``WAIT_SECONDS`` (the fraction unchanged
    until a block finishes), so a cancel need not wait for a whole factorisation.
    """

    def __init__(self, checkpoint: Checkpoint | None, start: float = 0.0, end: float = 1.0, reached: list[float] | None = None):
        self.checkpoint, self.start, self.end = checkpoint, start, end
        self._reached = reached if reached is not None else [0.0]

    def __call__(self, fraction: float) -> None:
        """Fraction of this stage done -> the checkpoint is called with the overall fraction (it may raise)."""
        if self.checkpoint is None:
            return
        overall = self.start + (self.end - self.start) * min(1.0, max(0.0, fraction))
        self._reached[0] = max(self._reached[0], overall)
        self.checkpoint(self._reached[0])

    def part(self, start: float, end: float) -> Fraction:
        """Sub-range of this stage (in its own 0..1) -> a Fraction for it, sharing the highest fraction reached."""
        span = self.end - self.start
        return Fraction(self.checkpoint, self.start + span * start, self.start + span * end, self._reached)

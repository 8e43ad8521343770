"""Performance suite: figures printed side by side, never pass/fail timings. Run ``python -m benchmarks``."""

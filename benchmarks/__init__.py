"""Performance suite: figures and ratios against baselines measured in the same run, never pass/fail on time.

Run ``python -m benchmarks`` for the table; its module docstring (benchmarks/__main__.py) lists the other commands.
"""

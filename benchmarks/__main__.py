"""python -m benchmarks: the performance table (see benchmarks/suite.py)."""

from benchmarks.suite import main

main()

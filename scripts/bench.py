#!/usr/bin/env python3
"""Entry point of the performance benchmark: `scripts/bench` runs `bench.py run`,
and the benchmark starts its children as `bench.py lean|upstream|load|memrss`.
The code is the package scripts/benchmark/ (see its __init__)."""

import sys

from benchmark.cli import main  # scripts/ is sys.path[0] when run as a script

if __name__ == "__main__":
    sys.exit(main())

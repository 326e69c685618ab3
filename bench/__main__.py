"""Run the benchmarks: `python -m bench [NAME...] [--scale small|full]`.

Each benchmark is a module `bench/<name>.py` with `run(scale: str) -> list[Figure]`; this runner
prints every figure with its ratio to the baseline and whether it meets the target.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from bench.figures import Figure, render

BENCHMARKS = ("plan", "ingest_identity", "compute", "sync", "server")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("names", nargs="*", help=f"benchmarks to run: {', '.join(BENCHMARKS)} (default: all)")
    parser.add_argument("--scale", choices=("small", "full"), default="full",
                        help="full: the issue's sizes (10M events); small: a quick smoke run")
    args = parser.parse_args(argv)
    figures: list[Figure] = []
    failed = False
    for name in args.names or BENCHMARKS:
        module = importlib.import_module(f"bench.{name}")
        for figure in module.run(args.scale):
            print(render(figure), flush=True)
            figures.append(figure)
            failed |= figure.meets_target is False
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

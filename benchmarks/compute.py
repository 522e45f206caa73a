"""Compute per audio chunk for every backend, median / p99 / max (item 1).

    .venv/bin/python benchmarks/compute.py                          # full, markdown to stdout
    .venv/bin/python benchmarks/compute.py --quick --json out/compute.json

The measurement lives in facestream.bench; this is `facestream bench --only compute`.
"""
import sys

from facestream.cli import main

if __name__ == "__main__":
    sys.exit(main(["bench", "--only", "compute", *sys.argv[1:]]))

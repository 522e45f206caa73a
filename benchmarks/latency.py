"""Algorithmic latency: model metadata and the measured onset-to-frame delay (item 2).

    .venv/bin/python benchmarks/latency.py                          # full, markdown to stdout
    .venv/bin/python benchmarks/latency.py --quick --json out/latency.json

The measurement lives in facestream.bench; this is `facestream bench --only latency`.
"""
import sys

from facestream.cli import main

if __name__ == "__main__":
    sys.exit(main(["bench", "--only", "latency", *sys.argv[1:]]))

"""Offscreen rendering and the live loop, from facestream.viewer.bench (item 6).

    .venv/bin/python benchmarks/render.py                          # full, markdown to stdout
    .venv/bin/python benchmarks/render.py --quick --json out/render.json

The measurement lives in facestream.bench; this is `facestream bench --only viewer`.
"""
import sys

from facestream.cli import main

if __name__ == "__main__":
    sys.exit(main(["bench", "--only", "viewer", *sys.argv[1:]]))

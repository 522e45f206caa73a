"""Resident memory of the runtime-only path and of the full install (item 7).

    .venv/bin/python benchmarks/memory.py                          # full, markdown to stdout
    .venv/bin/python benchmarks/memory.py --quick --json out/memory.json

The measurement lives in facestream.bench; this is `facestream bench --only memory`.
"""
import sys

from facestream.cli import main

if __name__ == "__main__":
    sys.exit(main(["bench", "--only", "memory", *sys.argv[1:]]))

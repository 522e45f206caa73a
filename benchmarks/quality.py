"""Quality against latency, from facestream eval's look-ahead table (item 9).

    .venv/bin/python benchmarks/quality.py                          # full, markdown to stdout
    .venv/bin/python benchmarks/quality.py --quick --json out/quality.json

The measurement lives in facestream.bench; this is `facestream bench --only quality`.
"""
import sys

from facestream.cli import main

if __name__ == "__main__":
    sys.exit(main(["bench", "--only", "quality", *sys.argv[1:]]))

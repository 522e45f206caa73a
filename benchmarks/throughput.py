"""Most concurrent 30 fps streams with p99 frame latency < 50 ms, batched and not (item 4).

    .venv/bin/python benchmarks/throughput.py                          # full, markdown to stdout
    .venv/bin/python benchmarks/throughput.py --quick --json out/throughput.json

The measurement lives in facestream.bench; this is `facestream bench --only throughput`.
"""
import sys

from facestream.cli import main

if __name__ == "__main__":
    sys.exit(main(["bench", "--only", "throughput", *sys.argv[1:]]))

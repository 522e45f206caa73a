"""Websocket delivery and the server soak run, from facestream.server.bench (item 5).

    .venv/bin/python benchmarks/delivery.py                          # full, markdown to stdout
    .venv/bin/python benchmarks/delivery.py --quick --json out/delivery.json

The measurement lives in facestream.bench; this is `facestream bench --only server`.
"""
import sys

from facestream.cli import main

if __name__ == "__main__":
    sys.exit(main(["bench", "--only", "server", *sys.argv[1:]]))

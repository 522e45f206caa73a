"""wav2vec2-base vs our model per second of audio, and the peers' structural latency (item 8).

    .venv/bin/python benchmarks/peers.py                          # full, markdown to stdout
    .venv/bin/python benchmarks/peers.py --quick --json out/peers.json

The measurement lives in facestream.bench; this is `facestream bench --only peers`.
"""
import sys

from facestream.cli import main

if __name__ == "__main__":
    sys.exit(main(["bench", "--only", "peers", *sys.argv[1:]]))

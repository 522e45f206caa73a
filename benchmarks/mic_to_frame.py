"""Microphone-to-frame latency through a PulseAudio virtual microphone (item 3).

    .venv/bin/python benchmarks/mic_to_frame.py                          # full, markdown to stdout
    .venv/bin/python benchmarks/mic_to_frame.py --quick --json out/mic_to_frame.json

The measurement lives in facestream.bench; this is `facestream bench --only mic`.
"""
import sys

from facestream.cli import main

if __name__ == "__main__":
    sys.exit(main(["bench", "--only", "mic", *sys.argv[1:]]))

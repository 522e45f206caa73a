"""Runs `facestream live --input FILE` with key presses dispatched to its window; prints the
statistics as JSON on the last line. tests/test_live.py starts it under xvfb-run:

    xvfb-run -a python tests/live_driver.py SPEECH.flac OUT_DIR
"""
import json
import sys

from facestream.cli import build_parser
from facestream.viewer.live import _pyglet, run_live


def main() -> None:
    audio, out = sys.argv[1], sys.argv[2]
    _, key = _pyglet()
    args = build_parser().parse_args(
        ["live", "--input", audio, "--duration", "4.0", "--emotion", "happy", "--intensity", "0.5",
         "--record-dir", out, "--size", "256", "--no-playback"])
    # record from 0.3 s to 3.3 s; sad at 0.9 s; intensity 0.5 -> 0.7 at 1.5 s
    script = [(0.3, key.R), (0.9, key._3), (1.5, key.UP), (1.55, key.UP), (3.3, key.R)]
    print(json.dumps(run_live(args, script=script)))


if __name__ == "__main__":
    main()

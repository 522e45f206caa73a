"""Every benchmark in one run: JSON, markdown, PNG plots and the README's Performance section.

    .venv/bin/python benchmarks/run_all.py --json docs/bench/bench.json \
        --markdown docs/bench/bench.md --plots docs/bench --readme README.md
    .venv/bin/python benchmarks/run_all.py --quick --json out/bench.json   # CI-sized

Same as `facestream bench` (all options pass through). Run it on an otherwise idle machine:
the numbers are wall-clock timings. Under `xvfb-run -a` the viewer's live loop is measured too.
"""
import sys

from facestream.cli import main

if __name__ == "__main__":
    sys.exit(main(["bench", *sys.argv[1:]]))

"""`facestream bench`: run the benchmarks, write JSON, markdown, plots and the README section.

    facestream bench --quick --json out/bench.json                    # CI-sized, ~1-2 min
    facestream bench --runs 3 --json docs/bench/bench.json --markdown docs/bench/bench.md \\
        --plots docs/bench --readme README.md                         # the full runs
    facestream bench --from-json docs/bench/bench.json --readme README.md   # re-render only
    facestream bench --only viewer --update docs/bench/bench.json --json docs/bench/bench.json
                                                    # rerun items that feed no target, in place
"""
from __future__ import annotations

import os
import sys


def add_parser(sub) -> None:
    p = sub.add_parser("bench", help="latency, throughput, memory and peer benchmarks")
    p.add_argument("--quick", action="store_true", help="CI-sized run (fewer samples, short trials)")
    p.add_argument("--json", metavar="OUT", help="write the report as JSON here")
    p.add_argument("--markdown", metavar="OUT", help="write the markdown report here "
                   "(default: print it)")
    p.add_argument("--plots", metavar="DIR", help="write PNG plots into this folder")
    p.add_argument("--readme", metavar="README", help="rewrite the Performance section between "
                   "the facestream-bench markers of this file")
    p.add_argument("--only", metavar="ITEMS", help="comma-separated items to run (compute, "
                   "latency, mic, throughput, server, viewer, memory, peers, quality, limit, int8)")
    p.add_argument("--from-json", metavar="IN", nargs="+", help="render existing reports "
                   "instead of running the benchmarks (several: combined as --runs does)")
    p.add_argument("--runs", type=int, default=1, metavar="N", help="run the benchmarks N "
                   "times in a row and report each target's median with the spread (default 1)")
    p.add_argument("--update", metavar="IN", help="run the --only items and put them into this "
                   "existing report in place of its own (items that feed no target: viewer, "
                   "server, memory, quality, int8, browser); the report keeps its targets")
    p.set_defaults(func=_cmd_bench)


def _rel(paths: dict[str, str], to_file: str) -> dict[str, str]:
    base = os.path.dirname(os.path.abspath(to_file))
    return {k: os.path.relpath(os.path.abspath(v), base) for k, v in paths.items()}


def _cmd_bench(args) -> int:
    import json
    from pathlib import Path

    from .markdown import render, rewrite_readme
    from .report import check_update, combine, options, problems, run_bench, update
    only = [k.strip() for k in args.only.split(",") if k.strip()] if args.only else ()
    if args.runs < 1:
        print("facestream bench: --runs must be at least 1", file=sys.stderr)
        return 2
    if args.update and (not args.only or args.from_json or args.runs != 1):
        print("facestream bench: --update needs --only ITEMS (and no --from-json or --runs)",
              file=sys.stderr)
        return 2
    if args.update:
        base = json.loads(Path(args.update).read_text())
        try:
            check_update(base, only, args.quick)
        except ValueError as e:  # refuse before spending minutes on the run
            print(f"facestream bench: {e}", file=sys.stderr)
            return 2
        report = update(base, run_bench(options(args.quick, only)))
    elif args.from_json:
        report = combine([json.loads(Path(p).read_text()) for p in args.from_json])
    else:
        report = combine([run_bench(options(args.quick, only)) for _ in range(args.runs)])
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(report, indent=1, allow_nan=False) + "\n")
    plots = {}
    if args.plots:
        from .plots import write_plots
        plots = write_plots(report, args.plots)
    if args.markdown:
        Path(args.markdown).parent.mkdir(parents=True, exist_ok=True)
        Path(args.markdown).write_text(render(report, _rel(plots, args.markdown)))
    elif not args.json:
        print(render(report, plots))
    if args.readme:
        section = render(report, _rel(plots, args.readme), level=3)
        changed = rewrite_readme(args.readme, section)
        print(f"{args.readme}: Performance section {'rewritten' if changed else 'unchanged'}",
              file=sys.stderr)
    for label, t in report["targets"].items():
        value = f"{t['value']:.3g} {t['unit']}" if t["measured"] else "not measured"
        print(f"{'PASS' if t['pass'] else 'FAIL'}  {label}: {value} (goal {t['target']})",
              file=sys.stderr)
    bad = problems(report)
    errors = [k for k, v in report["items"].items() if "error" in v]
    for b in bad:
        print(f"facestream bench: malformed report: {b}", file=sys.stderr)
    if errors:
        print(f"facestream bench: items that failed: {', '.join(errors)}", file=sys.stderr)
    return 1 if bad or errors else 0

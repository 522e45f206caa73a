"""The `facestream` command line. Each subcommand imports what it needs when it runs."""
from __future__ import annotations

import argparse
import json
import sys


def _cmd_info(args) -> int:
    from .info import collect, format_text
    info = collect(args.head)
    print(json.dumps(info, indent=2) if args.json else format_text(info))
    return 0


def _cmd_demo(args) -> int:
    from .engine.head import load_head
    from .viewer.demo import render_demo_sheet
    head = load_head(args.head)
    out = render_demo_sheet(head, args.output, size=args.size)
    print(f"contact sheet: {out['path']} ({out['panels']} panels, {out['size']}px)")
    print(f"head: {head.name}, {head.num_vertices} vertices, {head.num_faces} triangles")
    print(f"timing: forward {out['forward_ms_per_frame']:.2f} ms/frame, render "
          f"{out['render_ms_per_frame']:.1f} ms/frame, total {out['total_s']:.1f} s")
    return 0


def _cmd_train(args) -> int:
    from .training.train import main as train_main
    return train_main(args.rest)


def _cmd_eval(args) -> int:
    from .training.evaluate import main as eval_main
    return eval_main(args.rest)


def _cmd_calibrate(args) -> int:
    from .training.calibrate import main as calibrate_main
    return calibrate_main(args.rest)


_PASSTHROUGH = {"train": _cmd_train, "eval": _cmd_eval, "calibrate": _cmd_calibrate}


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="facestream",
                                 description="Real-time speech-driven 3D facial animation.")
    ap.add_argument("--version", action="store_true", help="print the version and exit")
    sub = ap.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("info", help="version, head, inference backends, audio devices")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    p.add_argument("--head", help="a head file (.npz or FLAME .pkl); default: embedded head")
    p.set_defaults(func=_cmd_info)

    p = sub.add_parser("demo", help="render the head in several expressions to a PNG sheet")
    p.add_argument("-o", "--output", default="out/demo_sheet.png", help="PNG to write")
    p.add_argument("--head", help="a head file (.npz or FLAME .pkl); default: embedded head")
    p.add_argument("--size", type=int, default=384, help="pixels per panel (square)")
    p.set_defaults(func=_cmd_demo)

    from .training.corpus.cli import add_parser as add_data
    add_data(sub)
    from .exporters.cli import add_parser as add_export
    add_export(sub)
    from .engine.animate import add_parser as add_animate
    add_animate(sub)
    from .engine.retarget import add_parser as add_retarget
    add_retarget(sub)
    from .server.cli import add_parser as add_server
    add_server(sub)
    from .engine.sources import add_parser as add_devices
    add_devices(sub)
    from .viewer.cli import add_parser as add_viewer
    add_viewer(sub)
    from .bench.cli import add_parser as add_bench
    add_bench(sub)

    p = sub.add_parser("train", help="train the streaming model (needs the train extra)",
                       add_help=False)
    p.set_defaults(func=_cmd_train)
    p = sub.add_parser("eval", help="evaluate models and baselines on held-out speech",
                       add_help=False)
    p.set_defaults(func=_cmd_eval)
    p = sub.add_parser("calibrate", help="choose a trained model's lip-closure gate on validation speech",
                       add_help=False)
    p.set_defaults(func=_cmd_calibrate)
    return ap


def main(argv: list[str] | None = None) -> int:
    ap = build_parser()
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in _PASSTHROUGH:  # everything after these belongs to their own parser
        args = argparse.Namespace(command=argv[0], func=_PASSTHROUGH[argv[0]], rest=argv[1:],
                                  version=False)
    else:
        args = ap.parse_args(argv)
    if args.version:
        from . import __version__
        print(__version__)
        return 0
    if not getattr(args, "func", None):
        ap.print_help()
        return 2
    from .engine.head import HeadFileError
    from .training.backend import register as register_torch_backend
    register_torch_backend()  # the CLI is where runtime and training meet: checkpoints run too
    try:
        return args.func(args)
    except (HeadFileError, FileNotFoundError, ValueError, RuntimeError, ImportError) as e:
        print(f"facestream {args.command}: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

"""The engine options that every command running the model shares (animate, render, live,
serve), declared once: which model, on which backend and threads, driving which head."""
from __future__ import annotations

from .avatar import head_from_args
from .backends import BACKENDS


def add_engine_arguments(p) -> None:
    """--model, --backend, --threads, --head, --avatar, --arkit-map."""
    g = p.add_argument_group("engine")
    g.add_argument("--model", help="exported model (.onnx, TorchScript .pt) or a training "
                   "checkpoint; default: the shipped model")
    g.add_argument("--backend", default="auto", choices=("auto", *BACKENDS),
                   help="inference backend (auto: onnxruntime, with CUDA when it has it)")
    g.add_argument("--threads", type=int, default=1, help="inference threads (default 1)")
    g.add_argument("--head", help="head file (.npz, FLAME .pkl, or a .glb/.gltf/.vrm avatar); "
                   "default: the embedded head")
    g.add_argument("--avatar", help="your own .glb/.gltf/.vrm avatar with ARKit-named (Perfect "
                   "Sync) morph targets, instead of --head; prints which of the 52 it has")
    g.add_argument("--arkit-map", help="ARKit->FLAME expression map for a FLAME head")


def open_engine(args):
    """The Engine the engine options ask for (warnings printed)."""
    from .stream import Engine
    if args.threads < 1:
        raise ValueError(f"--threads must be at least 1, got {args.threads}")
    engine = Engine(args.model, head=head_from_args(args), backend=args.backend,
                    threads=args.threads, arkit_to_flame=args.arkit_map)
    if engine.warning:
        print(f"warning: {engine.warning}")
    return engine

"""`facestream export CHECKPOINT --format onnx|torchscript|both|triton -o DIR`, and
`facestream export [MODEL.onnx] --format web -o DIR` (a static site that runs the model in the
browser: exporters/web.py)."""
from __future__ import annotations

from pathlib import Path


def add_parser(sub) -> None:
    p = sub.add_parser("export", help="export a checkpoint to ONNX, TorchScript, a Triton model "
                       "repository or a static web page that runs the model in the browser")
    p.add_argument("checkpoint", nargs="?", help="a training checkpoint (runs/.../model.pt); with "
                   "--format web an exported .onnx model (default: the shipped one)")
    p.add_argument("--format", choices=["onnx", "torchscript", "both", "triton", "web"], default="both",
                   help="triton: a Triton Inference Server model repository in OUT (see exporters/triton.py); "
                        "web: a static folder (index.html, JS, model, head, onnxruntime-web) for any file host")
    p.add_argument("--head", default=None, help="web: the head the page draws (default: the embedded head)")
    p.add_argument("-o", "--out", default="out/export", help="output directory")
    p.add_argument("--name", default=None,
                   help="file stem (default model: model.onnx, model.ts); with triton the model's name "
                        "(default facestream)")
    p.set_defaults(func=_export)


def _export(args) -> int:
    if args.format == "web":
        return _export_web(args)
    if args.checkpoint is None:
        raise ValueError(f"--format {args.format} needs a CHECKPOINT (runs/.../model.pt)")
    from ..training.checkpoint import load_checkpoint
    from .export import export_onnx, export_torchscript
    net, blob = load_checkpoint(args.checkpoint)
    if net.config.offline:
        raise ValueError("an offline (bidirectional) model cannot stream: export a causal one")
    out = Path(args.out)
    extra = {"trained_steps": blob.get("step", 0), "train_config": blob.get("train_config")}
    if args.format == "triton":
        from .triton import export_triton, validate_config
        model_dir = export_triton(net, out, head=blob["head"], name=args.name or "facestream",
                                  extra_meta=extra)
        try:
            validate_config((model_dir / "config.pbtxt").read_text())
            checked = "checked against Triton's model-config schema"
        except ImportError:
            checked = "not schema-checked: install the triton extra (tritonclient)"
        print(f"triton: {model_dir} ({checked})")
        return 0
    args.name = args.name or "model"
    if args.format in ("onnx", "both"):
        print(f"onnx: {export_onnx(net, out / f'{args.name}.onnx', head=blob['head'], extra_meta=extra)}")
    if args.format in ("torchscript", "both"):
        print(f"torchscript: {export_torchscript(net, out / f'{args.name}.ts', head=blob['head'], extra_meta=extra)}")
    return 0


def _export_web(args) -> int:
    from .web import build_site
    if args.checkpoint is not None and not args.checkpoint.endswith(".onnx"):
        raise ValueError(f"--format web takes an exported .onnx model, got {args.checkpoint}: run "
                         "`facestream export CHECKPOINT --format onnx` first")
    files = build_site(args.out, model=args.checkpoint, head=args.head)
    for rel, size in files.items():
        print(f"{size / 1e6:9.3f} MB  {Path(args.out) / rel}")
    print(f"web: {args.out} ({sum(files.values()) / 1e6:.1f} MB); serve it with any static file "
          f"host, e.g. python -m http.server -d {args.out} 8000")
    return 0

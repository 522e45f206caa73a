"""`facestream export CHECKPOINT --format onnx|torchscript|both|triton -o DIR`."""
from __future__ import annotations

from pathlib import Path


def add_parser(sub) -> None:
    p = sub.add_parser("export", help="export a checkpoint to ONNX, TorchScript or a Triton model repository")
    p.add_argument("checkpoint", help="a training checkpoint (runs/.../model.pt)")
    p.add_argument("--format", choices=["onnx", "torchscript", "both", "triton"], default="both",
                   help="triton: a Triton Inference Server model repository in OUT (see exporters/triton.py)")
    p.add_argument("-o", "--out", default="out/export", help="output directory")
    p.add_argument("--name", default=None,
                   help="file stem (default model: model.onnx, model.ts); with triton the model's name "
                        "(default facestream)")
    p.set_defaults(func=_export)


def _export(args) -> int:
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

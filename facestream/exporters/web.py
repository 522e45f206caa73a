"""`facestream export --format web -o site/`: a static folder that runs the model in the page.

    facestream export --format web -o site/          # the shipped model and head
    python -m http.server -d site 8000               # any static file host; open :8000

Nothing is computed on a server: onnxruntime-web (WASM) runs the model in a Web Worker, an
AudioWorklet captures the microphone at 16 kHz, and the page skins and draws the head with
the same WebGL2 renderer as `facestream serve`'s page. The folder holds:

    index.html, web.js, worker.js, pipeline.js,  the page's code (facestream/server/static,
    behaviour.js, rig.js, renderer.js,            shared with `facestream serve`, which offers
    capture16k.js                                 the same page under /web/)
    facestream.json   `web_config`: every number the page uses, from the Python modules
    model.onnx        the model (state tensors as inputs and outputs, as in Python)
    head.bin          the head as the server sends it (server.app.head_bin)
    rig.bin           `rig_bin`: the expression basis (sparse) and the skinning
    ort/              onnxruntime-web's WASM build and its licence, vendored from npm

onnxruntime-web comes from npm (`make js-deps` installs the pinned version into build/npm);
`find_ort` says where it looked when it is missing.
"""
from __future__ import annotations

import inspect
import json
import os
import shutil
import struct
from dataclasses import fields
from pathlib import Path

import numpy as np

from .. import vocab

ORT_PACKAGE, ORT_VERSION = "onnxruntime-web", "1.30.0"
# The WASM build only: the ES module (~50 KB), its Emscripten glue and the SIMD+threads binary
# (single-threaded when the page is not cross-origin isolated). No WebGPU/WebGL builds.
ORT_FILES = ("ort.wasm.min.mjs", "ort-wasm-simd-threaded.mjs", "ort-wasm-simd-threaded.wasm")
PAGE_FILES = ("web.js", "worker.js", "pipeline.js", "behaviour.js", "rig.js", "renderer.js",
              "capture16k.js")
PAGE_INDEX = "web.html"  # written as the site's index.html
CONFIG_FORMAT, CONFIG_VERSION = "facestream-web", 1


class WebExportError(RuntimeError):
    """The web folder cannot be written: the message says what is missing and the fix."""


# ---- the numbers --------------------------------------------------------------------------
def _plain(x):
    """numpy arrays, tuples and scalars -> JSON values."""
    if isinstance(x, np.ndarray):
        return x.tolist()
    if isinstance(x, (tuple, list)):
        return [_plain(v) for v in x]
    if isinstance(x, dict):
        return {str(k): _plain(v) for k, v in x.items()}
    if isinstance(x, (np.floating, np.integer)):
        return x.item()
    return x


def _constants(module) -> dict:
    """A module's UPPER_CASE numbers, tuples and arrays (its parameters), by name."""
    return {k: _plain(v) for k, v in vars(module).items()
            if k.isupper() and not k.startswith("_")
            and isinstance(v, (int, float, tuple, list, dict, np.ndarray))}


def web_config(info, head, model_file: str = "model.onnx") -> dict:
    """Everything the page needs to run the model exactly as `engine.stream` does, taken from
    the Python modules (vocab, the model's metadata, engine.stream, engine.emotion,
    engine.behaviour, engine.expressive) so that no number is typed twice.

    info: the model's `ModelInfo`; head: the `Head` the page draws."""
    from ..engine import behaviour, emotion, expressive, stream
    from ..exporters.metadata import AUDIO_INPUT, COND_INPUT, OUTPUT, STATE_OUT_SUFFIX
    layout = json.loads(info.meta["output_layout"])
    beh = _constants(behaviour)
    beh.update({k: v for k, v in _constants(expressive).items() if k.startswith(("BLINK", "DOUBLE"))})
    beh["EYE_LOOK"] = {n[len("eyeLook"):]: i for i, n in enumerate(vocab.ARKIT_NAMES)
                       if n.startswith("eyeLook")}
    return {
        "format": CONFIG_FORMAT, "version": CONFIG_VERSION,
        "sample_rate": vocab.SAMPLE_RATE, "hop_samples": vocab.HOP_SAMPLES,
        "internal_fps": vocab.INTERNAL_FPS, "output_fps": list(vocab.OUTPUT_FPS),
        "default_fps": vocab.DEFAULT_FPS,
        "arkit_names": list(vocab.ARKIT_NAMES), "emotion_names": list(vocab.EMOTION_NAMES),
        "emotion_codes": list(vocab.EMOTION_CODES),
        "jaw_open_max_rad": vocab.JAW_OPEN_MAX_RAD, "eye_look_rad": vocab.EYE_LOOK_RAD,
        "pose_joints": list(vocab.POSE_JOINTS),
        "model": {
            "file": model_file, "head": info.head, "lookahead": info.lookahead,
            "latency_ms": info.latency_ms, "max_step_frames": stream.MAX_STEP_FRAMES,
            "inputs": {"audio": AUDIO_INPUT, "cond": COND_INPUT}, "output": OUTPUT,
            "state_names": list(info.state_names),
            "state_outputs": [n + STATE_OUT_SUFFIX for n in info.state_names],
            "state_shapes": [list(s) for s in info.state_shapes_1],
            "state_batch_axes": [info.state_batch_axis(n) for n in info.state_names],
            "output_layout": layout,
            "output_dim": max(hi for _, hi in layout.values()),
        },
        "emotion": {"arkit": _plain(emotion.EMOTION_ARKIT),  # E x K: each emotion's expression
                    "transition_s": inspect.signature(stream.Stream.set_emotion)
                    .parameters["transition"].default},
        "behaviour": {
            "defaults": _plain({f.name: f.default for f in fields(behaviour.BehaviourOptions)}),
            "constants": beh,
        },
        "head": {"name": head.name, "file": "head.bin", "rig": "rig.bin"},
    }


# ---- the rig ------------------------------------------------------------------------------
def rig_bin(head) -> bytes:
    """The head's deformation for the page: u32 length of a JSON header, the JSON (padded to 4
    bytes), then per expression shape k its nonzero vertices (uint32 n_k indices, float32
    n_k x 3 offsets, shapes in expr_names order), then float32 V x J skin weights. The JSON
    carries V, J, the shape names, n_k, the rest joints (J x 3) and the parents. Sparse: the
    default head's 52 shapes move 57 k of their 303 k vertex entries (0.9 MB instead of 3.6)."""
    if head.pose_dirs is not None or head.joint_regressor is not None or head.shape_dirs is not None:
        raise WebExportError(f"head {head.name!r} has pose correctives, a joint regressor or an "
                             "identity basis (a FLAME head), which the page does not skin: export "
                             "with the default head or an ARKit head without them")
    if not head.is_arkit:
        raise WebExportError(f"head {head.name!r} has no ARKit expression basis: the page drives "
                             "the 52 ARKit shapes directly; export with an ARKit head")
    idx, off = [], []
    for d in head.expr_dirs:  # V x 3
        nz = np.flatnonzero(np.abs(d).max(1) > 0)
        idx.append(nz.astype("<u4"))
        off.append(d[nz].astype("<f4"))
    meta = json.dumps({"format": "facestream-rig", "num_vertices": head.num_vertices,
                       "num_joints": vocab.NUM_JOINTS, "expr_names": list(head.expr_names),
                       "counts": [len(i) for i in idx], "joints": _plain(head.joints),
                       "parents": list(head.parents)}).encode()
    meta += b" " * (-len(meta) % 4)
    blocks = [b for i, o in zip(idx, off) for b in (i.tobytes(), o.tobytes())]
    return b"".join((struct.pack("<I", len(meta)), meta, *blocks,
                     head.skin_weights.astype("<f4").tobytes()))


# ---- onnxruntime-web ----------------------------------------------------------------------
def _repo_root() -> Path:
    return Path(__file__).resolve().parents[2]


def ort_candidates() -> list[Path]:
    """Where onnxruntime-web's package folder is looked for, in order."""
    out = []
    if os.environ.get("FACESTREAM_ORT_DIR"):
        out.append(Path(os.environ["FACESTREAM_ORT_DIR"]))
    for base in (Path.cwd(), _repo_root()):
        p = base / "build" / "npm" / "node_modules" / ORT_PACKAGE
        if p not in out:
            out.append(p)
    return out


def find_ort(path: str | Path | None = None) -> Path:
    """The onnxruntime-web package folder (holding package.json and dist/) at the pinned version."""
    tried = [Path(path)] if path is not None else ort_candidates()
    seen = []
    for p in tried:
        pkg = p / "package.json"
        if not pkg.is_file():
            seen.append(f"{p} (absent)")
            continue
        version = json.loads(pkg.read_text()).get("version")
        missing = [f for f in ORT_FILES if not (p / "dist" / f).is_file()]
        if version != ORT_VERSION:
            seen.append(f"{p} (version {version}, need {ORT_VERSION})")
        elif missing:
            seen.append(f"{p} (incomplete: no dist/{missing[0]})")
        else:
            return p
    raise WebExportError(f"{ORT_PACKAGE}@{ORT_VERSION} not found; looked in: {'; '.join(seen)}. "
                         f"Run `make js-deps` (or `npm install --no-save --prefix build/npm "
                         f"{ORT_PACKAGE}@{ORT_VERSION}`), or point FACESTREAM_ORT_DIR at the "
                         "package folder")


MIT_TEXT = """Permission is hereby granted, free of charge, to any person obtaining a copy
of this software and associated documentation files (the "Software"), to deal
in the Software without restriction, including without limitation the rights
to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
copies of the Software, and to permit persons to whom the Software is
furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all
copies or substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
SOFTWARE.
"""


def ort_licence(ort: Path) -> bytes:
    """onnxruntime-web's licence: the package's own LICENSE file when it has one; the npm
    package ships none, so else the MIT licence its package.json declares, under the copyright
    line its files carry (the header comment of dist/ort.wasm.min.mjs)."""
    for name in ("LICENSE", "LICENSE.txt", "LICENSE.md"):
        if (ort / name).is_file():
            return (ort / name).read_bytes()
    pkg = json.loads((ort / "package.json").read_text())
    if pkg.get("license") != "MIT":
        raise WebExportError(f"{ort}: licence {pkg.get('license')!r}, not the MIT licence this "
                             f"export was checked against: review it before vendoring {ORT_PACKAGE}")
    head = (ort / "dist" / ORT_FILES[0]).read_text(errors="replace")[:400]
    copyright_line = next((ln.strip(" */") for ln in head.splitlines() if "Copyright" in ln),
                          "Copyright (c) Microsoft Corporation.")
    return (f"{ORT_PACKAGE} {pkg['version']} (https://www.npmjs.com/package/{ORT_PACKAGE}), "
            f"vendored unmodified: {', '.join(ORT_FILES)}\n\nMIT License\n\n{copyright_line}\n\n"
            f"{MIT_TEXT}").encode()


# ---- the folder ---------------------------------------------------------------------------
def static_dir() -> Path:
    from importlib import resources
    return Path(str(resources.files("facestream.server") / "static"))


# Content types a host must send for the page to work (WASM streaming compile wants its own).
CONTENT_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
                 ".mjs": "text/javascript; charset=utf-8", ".json": "application/json",
                 ".wasm": "application/wasm", ".onnx": "application/octet-stream",
                 ".bin": "application/octet-stream", "": "text/plain; charset=utf-8"}
# The site's files that are data (the model and the head) rather than code: `facestream serve`
# asks for its token for these, as for /head.bin.
DATA_FILES = ("facestream.json", "model.onnx", "head.bin", "rig.bin")


def site_files(model: str | Path | None = None, head=None,
               ort: str | Path | None = None) -> dict[str, bytes | Path]:
    """The static folder's files: {relative path: bytes, or the Path of a file to copy}.

    model: an .onnx facestream model (default: the shipped one); head: a Head or a head file
    (default: the embedded head); ort: onnxruntime-web's package folder (default: `find_ort`)."""
    from ..engine.backends import open_backend
    from ..engine.head import Head, load_head
    from ..engine.stream import default_model_path
    from ..server.app import head_bin
    model = Path(model) if model is not None else default_model_path()
    if model.suffix != ".onnx" or not model.is_file():
        raise WebExportError(f"{model}: the page runs an .onnx facestream model; export a "
                             "checkpoint with `facestream export CHECKPOINT --format onnx` first")
    head = head if isinstance(head, Head) else load_head(head)
    ort_dir = find_ort(ort)
    info = open_backend(model, "onnxruntime").info  # checks the metadata as the engine does
    if info.state_layout != "engine":
        raise WebExportError(f"{model} keeps its states in layout {info.state_layout!r}; "
                             "the page runs the plain export: use `facestream export --format onnx`")
    return {
        "index.html": (static_dir() / PAGE_INDEX).read_bytes(),
        **{name: static_dir() / name for name in PAGE_FILES},
        "facestream.json": json.dumps(web_config(info, head), indent=1).encode() + b"\n",
        "model.onnx": model,
        "head.bin": head_bin(head),
        "rig.bin": rig_bin(head),
        "ort/LICENSE": ort_licence(ort_dir),
        **{f"ort/{name}": ort_dir / "dist" / name for name in ORT_FILES},
    }


def build_site(out: str | Path, model: str | Path | None = None, head=None,
               ort: str | Path | None = None) -> dict[str, int]:
    """Write the static folder (`site_files`) into `out` -> {relative path: bytes written}."""
    out = Path(out)
    (out / "ort").mkdir(parents=True, exist_ok=True)
    files = site_files(model, head, ort)
    for rel, data in files.items():
        if isinstance(data, Path):
            shutil.copyfile(data, out / rel)
        else:
            (out / rel).write_bytes(data)
    return {rel: (out / rel).stat().st_size for rel in files}

"""File and wire formats, each defined once: audio files in and out, 16-bit PCM scaling,
frame files (`facestream animate -o X.npz|.json|.csv`) written and read back, and the two
blendshape layouts of Live Link Face.

Live Link Face has two layouts, and both are right for their format: its UDP packets (what
Unreal's Live Link source reads, `server/livelink.py`) follow Unreal's EARFaceBlendShape enum
(jawLeft before jawRight, mouthLeft before mouthRight), while the CSV files the app exports
list JawRight before JawLeft and MouthRight before MouthLeft (as every published take shows).
Both carry the same nine rotations after the weights: `live_link_rotations`.

numpy + soundfile (a core dependency: it ships libsndfile) + the standard library.
Shapes: F frames, S samples, C channels, K = 52 ARKit weights.
"""
from __future__ import annotations

import csv
import json
import wave
from pathlib import Path

import numpy as np

from . import vocab

# ---- 16-bit PCM ---------------------------------------------------------------------------
PCM16_SCALE = 32768.0  # int16 <-> float in [-1, 1): x = pcm / 32768 (what soundfile does)


def pcm16_to_float(pcm: np.ndarray) -> np.ndarray:
    """int16 PCM -> float32 in [-1, 1)."""
    return np.asarray(pcm).astype(np.float32) / PCM16_SCALE


def float_to_pcm16(x: np.ndarray) -> np.ndarray:
    """float samples -> int16 PCM, rounded and clipped (exact inverse of pcm16_to_float)."""
    return np.clip(np.round(np.asarray(x, np.float64) * PCM16_SCALE), -32768, 32767).astype(np.int16)


# ---- audio files ----------------------------------------------------------------------------
def read_audio(path: str | Path, *, allow_silent: bool = False) -> tuple[np.ndarray, int]:
    """An audio file -> (samples S or S x C float32, sample rate). Clear errors for a missing
    file, one that is not audio, an empty or non-finite one, and (unless allow_silent) a
    silent one."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"audio file not found: {path}")
    try:
        import soundfile as sf
    except ImportError as e:  # a core dependency: only a broken install gets here
        raise ImportError(f"reading audio files needs soundfile ({e}): pip install soundfile") from e
    try:
        data, sr = sf.read(str(path), dtype="float32", always_2d=False)
    except Exception as e:
        raise ValueError(f"cannot read {path} as audio ({e}): give a WAV/FLAC/OGG file") from e
    if data.size == 0:
        raise ValueError(f"{path} contains no audio samples")
    if not np.isfinite(data).all():
        raise ValueError(f"{path} contains NaN or infinite samples")
    if not allow_silent and np.abs(data).max() < 1e-5:
        raise ValueError(f"{path} is silent (peak below -100 dBFS): nothing to animate")
    return data, int(sr)


def write_wav(path: str | Path, samples: np.ndarray, sr: int) -> Path:
    """S or S x C float samples -> 16-bit PCM WAV (the standard library writes it)."""
    x = np.asarray(samples, np.float32)
    pcm = float_to_pcm16(x[:, None] if x.ndim == 1 else x).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(pcm.shape[1])
        w.setsampwidth(2)
        w.setframerate(int(sr))
        w.writeframes(pcm.tobytes())
    return Path(path)


# ---- Live Link Face ---------------------------------------------------------------------------
# Unreal's EARFaceBlendShape order (AppleARKitFaceSupport): the packets' first 52 values.
LIVE_LINK_ORDER: tuple[str, ...] = (
    "eyeBlinkLeft", "eyeLookDownLeft", "eyeLookInLeft", "eyeLookOutLeft", "eyeLookUpLeft",
    "eyeSquintLeft", "eyeWideLeft", "eyeBlinkRight", "eyeLookDownRight", "eyeLookInRight",
    "eyeLookOutRight", "eyeLookUpRight", "eyeSquintRight", "eyeWideRight", "jawForward",
    "jawLeft", "jawRight", "jawOpen", "mouthClose", "mouthFunnel", "mouthPucker", "mouthLeft",
    "mouthRight", "mouthSmileLeft", "mouthSmileRight", "mouthFrownLeft", "mouthFrownRight",
    "mouthDimpleLeft", "mouthDimpleRight", "mouthStretchLeft", "mouthStretchRight",
    "mouthRollLower", "mouthRollUpper", "mouthShrugLower", "mouthShrugUpper", "mouthPressLeft",
    "mouthPressRight", "mouthLowerDownLeft", "mouthLowerDownRight", "mouthUpperUpLeft",
    "mouthUpperUpRight", "browDownLeft", "browDownRight", "browInnerUp", "browOuterUpLeft",
    "browOuterUpRight", "cheekPuff", "cheekSquintLeft", "cheekSquintRight", "noseSneerLeft",
    "noseSneerRight", "tongueOut",
)
_CSV_SWAPS = {"jawLeft": "jawRight", "jawRight": "jawLeft",
              "mouthLeft": "mouthRight", "mouthRight": "mouthLeft"}
# The app's CSV columns: the enum's order with the jaw and mouth Left/Right pairs swapped,
# capitalised as the app writes them.
LIVE_LINK_CSV_COLUMNS: tuple[str, ...] = tuple(
    (n := _CSV_SWAPS.get(name, name))[0].upper() + n[1:] for name in LIVE_LINK_ORDER)
LIVE_LINK_ROTATIONS: tuple[str, ...] = (
    "HeadYaw", "HeadPitch", "HeadRoll", "LeftEyeYaw", "LeftEyePitch", "LeftEyeRoll",
    "RightEyeYaw", "RightEyePitch", "RightEyeRoll")
LIVE_LINK_INDEX = np.array([vocab.ARKIT_INDEX[n] for n in LIVE_LINK_ORDER])  # ARKit -> packet
LIVE_LINK_CSV_INDEX = np.array([vocab.ARKIT_INDEX[c[0].lower() + c[1:]]
                                for c in LIVE_LINK_CSV_COLUMNS])  # ARKit -> CSV columns
for _order in (LIVE_LINK_INDEX, LIVE_LINK_CSV_INDEX):
    if sorted(_order.tolist()) != list(range(vocab.NUM_ARKIT)):
        raise AssertionError("a Live Link layout must be a permutation of vocab.ARKIT_NAMES")


def live_link_rotations(neck_pose: np.ndarray, eye_pose: np.ndarray) -> np.ndarray:
    """neck_pose ... x 3 and eye_pose ... x 6 (left, right) axis-angle (x pitch, y yaw,
    z roll) -> ... x 9 in LIVE_LINK_ROTATIONS order (yaw, pitch, roll each), radians."""
    n, e = np.asarray(neck_pose, np.float32), np.asarray(eye_pose, np.float32)
    order = [(n, 1), (n, 0), (n, 2), (e, 1), (e, 0), (e, 2), (e, 4), (e, 3), (e, 5)]
    return np.stack([a[..., i] for a, i in order], axis=-1)


# ---- frame files ------------------------------------------------------------------------------
FRAME_FILE_TYPES = (".npz", ".json", ".csv")
_POSES = ("jaw_pose", "neck_pose", "eye_pose")


def frame_arrays(frames) -> dict[str, np.ndarray]:
    """A list of Frame -> F-first arrays (seq, timestamp, arkit, expression, poses, emotion,
    intensity, and vertices when the frames carry them)."""
    if not len(frames):
        raise ValueError("no frames to write: the audio was shorter than one frame")
    out = {"seq": np.array([f.seq for f in frames], np.int64),
           "timestamp": np.array([f.timestamp for f in frames], np.float64),
           "intensity": np.array([f.intensity for f in frames], np.float32)}
    for k in ("arkit", "expression", *_POSES, "emotion"):
        out[k] = np.stack([getattr(f, k) for f in frames]).astype(np.float32)
    if frames[0].vertices is not None:
        out["vertices"] = np.stack([f.vertices for f in frames])
    return out


def live_link_timecode(t: float, fps: int) -> str:
    """Seconds -> the app's CSV timecode HH:MM:SS:FF.mmm."""
    return (f"{int(t // 3600):02d}:{int(t // 60) % 60:02d}:{int(t) % 60:02d}:"
            f"{int(round((t % 1) * fps)) % fps:02d}.{int(round(t * 1000)) % 1000:03d}")


def write_frame_file(out: str | Path, frames, fps: int, head_name: str) -> Path:
    """Frames (a list of Frame) -> .npz (every array), .json (per frame) or .csv (Live Link
    Face's layout, which Unreal's importers read)."""
    out = Path(out)
    if out.suffix not in FRAME_FILE_TYPES:
        raise ValueError(f"unknown frame file type {out.suffix!r}: use {', '.join(FRAME_FILE_TYPES)}")
    a = frame_arrays(frames)
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix == ".npz":
        extra = {} if "vertices" not in a else {"vertices": a["vertices"]}
        np.savez_compressed(out, arkit=a["arkit"], arkit_names=np.array(vocab.ARKIT_NAMES),
                            expression=a["expression"], **{k: a[k] for k in _POSES},
                            emotion=a["emotion"], intensity=a["intensity"],
                            timestamps=a["timestamp"], fps=np.array(fps), head=np.array(head_name),
                            **extra)
    elif out.suffix == ".json":
        own = [f.expression is not f.arkit for f in frames]  # a head with its own coefficients
        out.write_text(json.dumps({
            "fps": fps, "head": head_name, "arkit_names": list(vocab.ARKIT_NAMES),
            "frames": [{"seq": int(a["seq"][i]), "t": round(float(a["timestamp"][i]), 5),
                        "arkit": np.round(a["arkit"][i], 5).tolist(),
                        **{k: np.round(a[k][i], 5).tolist() for k in _POSES},
                        **({"expression": np.round(a["expression"][i], 5).tolist()} if own[i] else {})}
                       for i in range(len(frames))]}))
    else:
        rot = live_link_rotations(a["neck_pose"], a["eye_pose"])
        with open(out, "w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["Timecode", "BlendShapeCount", *LIVE_LINK_CSV_COLUMNS, *LIVE_LINK_ROTATIONS])
            for i in range(len(frames)):
                w.writerow([live_link_timecode(float(a["timestamp"][i]), fps), vocab.NUM_ARKIT,
                            *[f"{x:.5f}" for x in a["arkit"][i, LIVE_LINK_CSV_INDEX]],
                            *[f"{x:.5f}" for x in rot[i]]])
    return out


def read_frame_file(path: str | Path) -> tuple[dict[str, np.ndarray], int]:
    """A frames .npz from `facestream animate` or a live recording -> (track, fps); the track
    holds arkit F x 52, jaw_pose F x 3, neck_pose F x 3, eye_pose F x 6 (float32)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"frames file not found: {path}")
    try:
        data = np.load(path)
        track = {k: np.asarray(data[k], np.float32) for k in ("arkit", *_POSES)}
        fps = int(data["fps"])
    except Exception as e:  # a missing array, a zip that is not an npz, a pickle: all the same
        raise ValueError(f"{path} is not a frames .npz from `facestream animate` or a live "
                         f"recording ({e})") from e
    if fps not in vocab.OUTPUT_FPS or track["arkit"].ndim != 2 or track["arkit"].shape[1] != 52:
        raise ValueError(f"{path}: expected T x 52 arkit at {vocab.OUTPUT_FPS} fps")
    return track, fps


# ---- ARKit -> head expression maps ------------------------------------------------------------
def load_expression_map(path: str | Path, k_head: int) -> np.ndarray:
    """An ARKit->head-expression map: .npy/.npz (array `map`) of shape K_head x 52, or a CSV
    with a header row of the 52 ARKit names and K_head rows."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"ARKit->FLAME map not found: {path}")
    if path.suffix == ".csv":
        rows = list(csv.reader(open(path)))
        header, body = rows[0], rows[1:]
        if header != list(vocab.ARKIT_NAMES):
            raise ValueError(f"{path}: the header must be the 52 ARKit names in ARKit's order")
        m = np.array(body, dtype=np.float32)
    else:
        data = np.load(path)
        m = data["map"] if hasattr(data, "files") else data
    m = np.asarray(m, dtype=np.float32)
    if m.shape != (k_head, vocab.NUM_ARKIT) or not np.isfinite(m).all():
        raise ValueError(f"{path}: expected a finite {k_head} x {vocab.NUM_ARKIT} map (head "
                         f"expressions x ARKit weights), got {m.shape}")
    return m

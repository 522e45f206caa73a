"""Bring your own data: licensed 4D face captures, for training the same model in FLAME space.

facestream ships no captured faces. A user who holds a licence for VOCASET, or who has
fitted FLAME to their own recordings, points these loaders at the files; both layouts come
out as one record, `FaceSequence`: 16 kHz float32 audio and per-frame face data resampled
to vocab.INTERNAL_FPS, frame t at its centre time (t + 0.5) / INTERNAL_FPS, T = ceil(S / HOP)
frames (as `Utterance.num_frames`), the capture's last frame held if the audio runs longer.

Layouts:

VOCASET (https://voca.is.tue.mpg.de), a directory holding
    data_verts.npy          N x 5023 x 3 float32, every frame of every sequence (60 fps)
    raw_audio_fixed.pkl     {subject: {sentence: {"audio": array, "sample_rate": 22000}}}
    templates.pkl           {subject: 5023 x 3 neutral mesh}
    subj_seq_to_idx.pkl     {subject: {sentence: {frame_no: row of data_verts}}}
  -> vertices T x V x 3 and the subject's template.

A directory of pairs NAME.wav + NAME.npz, the npz holding per-frame FLAME parameters:
    expression   T x n_expr      required
    jaw_pose     T x 3           required, axis-angle
    neck_pose    T x 3           optional (zeros)
    global_pose  T x 3           optional (zeros)
    eye_pose     T x 6           optional (zeros): left eye then right, as FLAME
    shape        n_shape         optional identity coefficients
    fps          scalar          required unless the loader is given fps=
  -> expression T x n_expr and pose T x 15 in vocab.POSE_JOINTS order
     (global, neck, jaw, eye_left, eye_right).

Rotations are resampled by linear interpolation of axis-angle vectors, not slerp. Between
neighbouring capture frames (17 ms at 60 fps) a jaw, neck or eye rotates a few degrees at
most, where the two differ by far less than capture noise; for large, fast global head turns
it would not hold, and facestream's head pose is not learned from audio anyway.

The pickles (python 2, protocol 2) are read by a restricted unpickler that accepts only
numpy arrays and plain containers, so a file cannot run code on load.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from math import gcd
from pathlib import Path
from typing import Iterator

import numpy as np

from ... import safe_pickle, vocab
from ...audio import to_mono_float32

VOCASET_FPS = 60.0
VOCASET_FILES = ("data_verts.npy", "raw_audio_fixed.pkl", "templates.pkl", "subj_seq_to_idx.pkl")
PAIR_KEYS_REQUIRED = ("expression", "jaw_pose")
PAIR_POSE_KEYS = (("global_pose", 3), ("neck_pose", 3), ("jaw_pose", 3), ("eye_pose", 6))
DEFAULT_MAX_MISMATCH_S = 0.5  # audio and capture lengths may differ this much (seconds)


class ByoDataError(ValueError):
    """User-supplied data that is missing, malformed or inconsistent: the message says how."""


@dataclass
class FaceSequence:
    """One captured sequence at vocab.INTERNAL_FPS. Shapes: S samples, T frames, V vertices."""

    name: str  # "subject/sentence" (VOCASET) or the pair's file stem
    subject: str  # capture subject ("" when the layout has none)
    audio: np.ndarray  # S float32 mono at vocab.SAMPLE_RATE
    source_fps: float  # the capture's frame rate before resampling
    expression: np.ndarray | None = None  # T x n_expr float32 FLAME expression coefficients
    pose: np.ndarray | None = None  # T x 15 float32 axis-angle, vocab.POSE_JOINTS layout
    shape: np.ndarray | None = None  # n_shape float32 FLAME identity coefficients
    vertices: np.ndarray | None = None  # T x V x 3 float32 (VOCASET: registered FLAME meshes)
    template: np.ndarray | None = None  # V x 3 float32 the subject's neutral mesh
    meta: dict = field(default_factory=dict)  # source sample rate, frame count, file paths

    @property
    def num_frames(self) -> int:
        return -(-len(self.audio) // vocab.HOP_SAMPLES)

    @property
    def duration(self) -> float:
        return len(self.audio) / vocab.SAMPLE_RATE


# ---- resampling ----------------------------------------------------------------------------

def audio_to_16k(audio, sample_rate: int, what: str = "audio") -> np.ndarray:
    """PCM (S,) or (S, C), int or float, at `sample_rate` -> S' float32 mono at 16 kHz
    (polyphase, linear phase: no delay). Integer PCM is scaled by its full range."""
    from scipy.signal import resample_poly

    if np.asarray(audio).size == 0:
        raise ByoDataError(f"{what}: expected samples (S,) or (S, channels), got none")
    try:
        x = to_mono_float32(audio, what)
    except ValueError as e:
        raise ByoDataError(str(e)) from None
    sr = int(sample_rate)
    if sr <= 0 or sr != sample_rate:
        raise ByoDataError(f"{what}: sample rate {sample_rate!r} must be a positive integer (Hz)")
    if sr == vocab.SAMPLE_RATE:
        return x
    g = gcd(vocab.SAMPLE_RATE, sr)
    return resample_poly(x, vocab.SAMPLE_RATE // g, sr // g).astype(np.float32)


def resample_track(values: np.ndarray, src_times: np.ndarray, num_frames: int) -> np.ndarray:
    """Per-frame values N x ... sampled at src_times (N,) seconds, increasing -> num_frames x ...
    at vocab.INTERNAL_FPS frame centres, by linear interpolation; held at both ends."""
    v = np.asarray(values, dtype=np.float32)
    src = np.asarray(src_times, dtype=np.float64)
    dst = (np.arange(num_frames) + 0.5) / vocab.INTERNAL_FPS
    if len(v) == 1:
        return np.repeat(v, num_frames, axis=0)
    j = np.clip(np.searchsorted(src, dst, side="right") - 1, 0, len(src) - 2)
    w = np.clip((dst - src[j]) / (src[j + 1] - src[j]), 0.0, 1.0).astype(np.float32)
    w = w.reshape((-1,) + (1,) * (v.ndim - 1))
    return v[j] * (1 - w) + v[j + 1] * w


def _check_lengths(name: str, n_src: int, fps: float, audio_16k: np.ndarray, tol: float) -> None:
    motion_s = n_src / fps
    audio_s = len(audio_16k) / vocab.SAMPLE_RATE
    if abs(motion_s - audio_s) > tol:
        raise ByoDataError(
            f"{name}: {n_src} frames at {fps:g} fps last {motion_s:.2f} s but the audio lasts "
            f"{audio_s:.2f} s: check the pairing and the fps (or pass max_length_mismatch_s= "
            f"above {abs(motion_s - audio_s):.2f} to accept it)")


# ---- restricted unpickling -----------------------------------------------------------------

class _DataUnpickler(safe_pickle.DataUnpickler):
    refused = ByoDataError


def read_pickle(path: Path):
    """A python-2 or -3 data pickle, read safely (latin1 for python-2 byte strings)."""
    return safe_pickle.load(path, _DataUnpickler, "pickle")


def _expect_dict(obj, what: str) -> dict:
    if not isinstance(obj, dict):
        raise ByoDataError(f"{what} must be a dict, got {type(obj).__name__}")
    return obj


# ---- VOCASET -------------------------------------------------------------------------------

class Vocaset:
    """A VOCASET directory: sequences by (subject, sentence), loaded on demand.

    data_verts.npy is memory-mapped (the real file is ~7 GB): loading a sequence reads its
    rows only. Sequences present in the index but without audio (or the reverse) are listed
    in `unpaired` and skipped by iteration.
    """

    def __init__(self, root: str | Path, max_length_mismatch_s: float = DEFAULT_MAX_MISMATCH_S,
                 fps: float = VOCASET_FPS) -> None:
        self.root = Path(root)
        missing = [f for f in VOCASET_FILES if not (self.root / f).is_file()]
        if missing:
            raise ByoDataError(f"{self.root} is not a VOCASET directory: missing "
                               f"{', '.join(missing)} (expected {', '.join(VOCASET_FILES)} "
                               "side by side)")
        self.fps = float(fps)
        self.tol = float(max_length_mismatch_s)
        try:
            self.verts = np.load(self.root / "data_verts.npy", mmap_mode="r", allow_pickle=False)
        except (OSError, ValueError) as e:
            raise ByoDataError(f"{self.root / 'data_verts.npy'} is not a readable .npy: {e}") from e
        if self.verts.ndim != 3 or self.verts.shape[2] != 3:
            raise ByoDataError(f"data_verts.npy must be N x V x 3 (V = 5023 for FLAME), "
                               f"got shape {self.verts.shape}")
        self.audio = _expect_dict(read_pickle(self.root / "raw_audio_fixed.pkl"),
                                  "raw_audio_fixed.pkl")
        self.templates = _expect_dict(read_pickle(self.root / "templates.pkl"), "templates.pkl")
        self.index = _expect_dict(read_pickle(self.root / "subj_seq_to_idx.pkl"),
                                  "subj_seq_to_idx.pkl")
        in_index = {(s, q) for s, seqs in self.index.items()
                    for q in _expect_dict(seqs, f"index[{s}]")}
        in_audio = {(s, q) for s, seqs in self.audio.items()
                    for q in _expect_dict(seqs, f"audio[{s}]")}
        self._keys = sorted(in_index & in_audio)
        self._keyset = set(self._keys)
        self.unpaired = sorted(in_index ^ in_audio)

    def keys(self) -> list[tuple[str, str]]:
        """(subject, sentence) of every sequence with both frames and audio, sorted."""
        return list(self._keys)

    def __len__(self) -> int:
        return len(self._keys)

    def __iter__(self) -> Iterator[FaceSequence]:
        for subject, sentence in self._keys:
            yield self.load(subject, sentence)

    def load(self, subject: str, sentence: str) -> FaceSequence:
        name = f"{subject}/{sentence}"
        if (subject, sentence) not in self._keyset:
            hint = " (it lacks audio or frames)" if (subject, sentence) in self.unpaired else ""
            raise ByoDataError(f"VOCASET has no sequence {name}{hint}: see Vocaset.keys()")
        entry = self.audio[subject][sentence]
        if not isinstance(entry, dict) or "audio" not in entry or "sample_rate" not in entry:
            raise ByoDataError(f"raw_audio_fixed.pkl[{subject}][{sentence}] must be a dict with "
                               "'audio' and 'sample_rate'")
        audio = audio_to_16k(entry["audio"], entry["sample_rate"], f"{name} audio")
        frames = self.index[subject][sentence]
        if not frames:
            raise ByoDataError(f"subj_seq_to_idx.pkl lists no frames for {name}")
        frame_nos = np.array(sorted(frames), dtype=np.int64)
        rows = np.array([frames[k] for k in frame_nos], dtype=np.int64)
        if rows.min() < 0 or rows.max() >= len(self.verts):
            raise ByoDataError(f"subj_seq_to_idx.pkl points {name} at rows up to {rows.max()} "
                               f"but data_verts.npy has {len(self.verts)}: the files do not "
                               "belong together")
        if subject not in self.templates:
            raise ByoDataError(f"templates.pkl has no template for subject {subject}")
        template = np.asarray(self.templates[subject], dtype=np.float32)
        if template.shape != self.verts.shape[1:]:
            raise ByoDataError(f"templates.pkl[{subject}] has shape {template.shape} but the "
                               f"meshes in data_verts.npy are {self.verts.shape[1:]}")
        n_src = int(frame_nos[-1] - frame_nos[0] + 1)
        _check_lengths(name, n_src, self.fps, audio, self.tol)
        seq = FaceSequence(name=name, subject=subject, audio=audio, source_fps=self.fps,
                           template=template, meta={"source_sample_rate": int(entry["sample_rate"]),
                                                    "source_frames": len(rows)})
        times = (frame_nos - frame_nos[0]) / self.fps
        seq.vertices = resample_track(self.verts[rows], times, seq.num_frames)
        return seq


# ---- directory of WAV + NPZ pairs ----------------------------------------------------------

def read_wav(path: str | Path) -> tuple[np.ndarray, int]:
    """(samples, sample_rate) of a WAV file, as scipy.io.wavfile reads it."""
    from scipy.io import wavfile
    try:
        sr, x = wavfile.read(path)
    except (OSError, ValueError) as e:
        raise ByoDataError(f"cannot read WAV {path}: {e} (PCM or float WAV expected)") from e
    return x, int(sr)


def load_pair(wav: str | Path, npz: str | Path | None = None, fps: float | None = None,
              max_length_mismatch_s: float = DEFAULT_MAX_MISMATCH_S) -> FaceSequence:
    """NAME.wav + NAME.npz (FLAME parameters per frame) -> FaceSequence at INTERNAL_FPS."""
    wav = Path(wav)
    npz = Path(npz) if npz is not None else wav.with_suffix(".npz")
    for p in (wav, npz):
        if not p.is_file():
            raise ByoDataError(f"{p} is missing: each clip needs NAME.wav and NAME.npz side "
                               "by side")
    try:
        with np.load(npz, allow_pickle=False) as z:
            params = {k: z[k] for k in z.files}
    except (OSError, ValueError) as e:
        raise ByoDataError(f"{npz} is not a readable .npz of arrays: {e}") from e
    name = wav.stem

    def bad(msg: str) -> ByoDataError:
        return ByoDataError(f"{npz}: {msg}")

    missing = [k for k in PAIR_KEYS_REQUIRED if k not in params]
    if missing:
        raise bad(f"lacks {', '.join(missing)} (required: expression T x n_expr, jaw_pose T x 3)")
    if "fps" in params:
        file_fps = float(np.asarray(params["fps"]).reshape(-1)[0])
        if fps is not None and abs(fps - file_fps) > 1e-6:
            raise bad(f"says fps={file_fps:g} but fps={fps:g} was passed: drop one")
        fps = file_fps
    if fps is None or not fps > 0:
        raise bad("has no 'fps' (frames per second): store it in the file or pass fps=")
    expr = params["expression"]
    if expr.ndim != 2 or expr.shape[0] == 0:
        raise bad(f"expression must be T x n_expr, got shape {expr.shape}")
    n = expr.shape[0]
    poses = []
    for key, width in PAIR_POSE_KEYS:
        p = params.get(key)
        if p is None:
            p = np.zeros((n, width), np.float32)
        if p.shape != (n, width):
            raise bad(f"{key} must be T x {width} with T = {n} (the frames of expression), "
                      f"got shape {p.shape}")
        poses.append(p)
    shape = params.get("shape")
    if shape is not None:
        shape = np.asarray(shape, dtype=np.float32)
        if shape.ndim == 2 and shape.shape[0] in (1, n):
            shape = shape[0]  # some fitters repeat the identity per frame
        if shape.ndim != 1:
            raise bad(f"shape must be n_shape (one identity per clip), got shape {shape.shape}")
    for key in ("expression",) + tuple(k for k, _ in PAIR_POSE_KEYS):
        if key in params and not np.isfinite(params[key]).all():
            raise bad(f"{key} contains NaN or infinity")

    samples, sr = read_wav(wav)
    audio = audio_to_16k(samples, sr, str(wav))
    _check_lengths(name, n, fps, audio, max_length_mismatch_s)
    seq = FaceSequence(name=name, subject="", audio=audio, source_fps=fps, shape=shape,
                       meta={"source_sample_rate": sr, "source_frames": n, "wav": str(wav),
                             "npz": str(npz)})
    times = np.arange(n) / fps
    seq.expression = resample_track(expr, times, seq.num_frames)
    seq.pose = resample_track(np.concatenate(poses, axis=1), times, seq.num_frames)
    return seq


class PairDirectory:
    """A directory of NAME.wav + NAME.npz clips (searched recursively), loaded on demand."""

    def __init__(self, root: str | Path, fps: float | None = None,
                 max_length_mismatch_s: float = DEFAULT_MAX_MISMATCH_S) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise ByoDataError(f"{self.root} is not a directory of NAME.wav + NAME.npz pairs")
        self.fps = fps
        self.tol = max_length_mismatch_s
        wavs = {p.with_suffix(""): p for p in self.root.rglob("*.wav")}
        npzs = {p.with_suffix(""): p for p in self.root.rglob("*.npz")}
        self._pairs = {str(k.relative_to(self.root)): wavs[k]
                       for k in sorted(wavs.keys() & npzs.keys())}
        lone = sorted(str(p.relative_to(self.root)) for k, p in {**wavs, **npzs}.items()
                      if k not in wavs or k not in npzs)
        if lone:
            raise ByoDataError(f"{self.root}: {len(lone)} file(s) without a partner, e.g. "
                               f"{', '.join(lone[:3])}: each clip needs NAME.wav and NAME.npz")
        if not self._pairs:
            raise ByoDataError(f"{self.root} holds no NAME.wav + NAME.npz pairs")

    def names(self) -> list[str]:
        return list(self._pairs)

    def __len__(self) -> int:
        return len(self._pairs)

    def __iter__(self) -> Iterator[FaceSequence]:
        for name in self._pairs:
            yield self.load(name)

    def load(self, name: str) -> FaceSequence:
        if name not in self._pairs:
            raise ByoDataError(f"no clip {name!r} in {self.root}: see names()")
        seq = load_pair(self._pairs[name], fps=self.fps, max_length_mismatch_s=self.tol)
        seq.name = name
        return seq


def open_byo(path: str | Path, **kwargs) -> Vocaset | PairDirectory:
    """The loader for `path`: VOCASET when data_verts.npy is there, else a pair directory."""
    path = Path(path)
    if not path.exists():
        raise ByoDataError(f"{path} does not exist: give a VOCASET directory or a directory of "
                           "NAME.wav + NAME.npz pairs")
    if (path / "data_verts.npy").exists() or (path / "subj_seq_to_idx.pkl").exists():
        return Vocaset(path, **kwargs)
    return PairDirectory(path, **kwargs)

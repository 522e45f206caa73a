"""Evaluate models and baselines on the held-out splits, in one run, on the same data.

    facestream eval --model runs/default/model.pt --json out/eval.json --markdown out/eval.md
    facestream eval --model a.pt --model b.pt --offline runs/offline/model.pt --plot out/eval.png

Metrics (vertices of the default head, neck and global pose at rest, metres -> reported units):
- LVE as FaceFormer/CodeTalker compute it: per frame the maximum over lip vertices of the
  squared L2 error, averaged over all frames; reported in 1e-5 m^2.
- lip error (mm): mean over frames of the mean lip-vertex L2 error ("average"), and of the
  maximum ("max", the seed paper's max lip error).
- FDD on the upper face: per vertex the standard deviation over time of its distance to the
  template, ground truth minus prediction, averaged over vertices and sequences (1e-7 m).
- bilabial closure rate: the fraction of /p b m/ phones whose centre frame has a lip gap
  (as engine.metrics.lip_gap measures it) below CLOSED_MM; since a face that never moves
  scores 1.0 on it, the open-vowel rate (lip gap above OPEN_MM at open vowels) goes beside it.
- emotion error: mean absolute error of the expression-carrying ARKit weights (brows, eyes,
  cheeks, nose) per dominant emotion and intensity bin.
- realism (issue 12): false closures (lip gap below CLOSED_MM at the centre of a phone that
  is not /p b m/) per consonant class (`phone_class`: labiodental, dental, alveolar, velar,
  other) and in silence; closure and false closures per speaker (voice); the lip opening at
  phone centres by class beside the targets'; the 95th percentile of the lip opening per
  sequence (median over sequences) against the targets'; and the lead (ms) at which the
  predicted lip opening best correlates with the targets' (positive: the model is early).

Baselines: the neutral face; an energy heuristic (jawOpen from the smoothed log-RMS of the
audio through a line fitted by least squares on the training split); any number of causal
checkpoints (their look-ahead is in their config) and optionally an offline one.
"""
from __future__ import annotations

import dataclasses
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import vocab
from ..engine.head import Head, load_head
from .face import FaceSubset, delay
from .phonemes import BILABIALS, PHONES, REDUCED_VOWELS

OPEN_VOWELS = frozenset(p for p, ph in PHONES.items() if ph.kind == "vowel" and ph.height >= 2.5)
CONSONANT_CLASSES = ("bilabial", "labiodental", "dental", "alveolar", "velar", "other")
PHONE_CLASSES = CONSONANT_CLASSES + ("open vowel", "other vowel", "reduced vowel", "silence")
MAX_LEAD_FRAMES = 10  # the lead search spans +-100 ms


def phone_class(symbol: str) -> str:
    """The evaluation class of an inventory phone (PHONE_CLASSES)."""
    ph = PHONES[symbol]
    if ph.kind == "silence":
        return "silence"
    if ph.kind == "vowel":
        if symbol in REDUCED_VOWELS:
            return "reduced vowel"
        return "open vowel" if symbol in OPEN_VOWELS else "other vowel"
    if ph.place == "bilabial":  # the lips close at stops and nasals, not at Spanish [β]
        return "bilabial" if symbol in BILABIALS else "other"
    if ph.place in ("labiodental", "dental", "alveolar"):
        return ph.place
    return "velar" if ph.place in ("velar", "uvular") else "other"

CLOSED_MM = 1.0  # lip gap (mm) under which the lips count as closed
EXPRESSION_SHAPES = tuple(i for i, n in enumerate(vocab.ARKIT_NAMES)
                          if n.startswith(("brow", "eye", "cheek", "nose")))


@dataclass
class Sequence:
    uid: str
    split: str
    audio: np.ndarray  # S float32
    arkit: np.ndarray  # T x K
    jaw: np.ndarray  # T x 3
    emotion: np.ndarray  # T x E
    intensity: np.ndarray  # T
    phones: list  # PhoneSeg
    voice: str = ""  # the speaker (corpus voice name)


def load_sequences(corpus_root: str, splits=("test", "val"), limit: int = 0) -> list[Sequence]:
    """Held-out sequences of `splits`, each labelled by what it holds out: synthetic speech
    keeps its split's name ("test": unseen synthetic voices, "val": unseen sentences); real
    speech of a held-out speaker is "test-real-speakers" / "val-real-speakers" (never
    trained on: store.REAL_SPEAKER_SPLITS), real speech of a trained speaker "SPLIT-real".
    A name of REAL_SPEAKER_SPLITS selects only that real speech. The sources the build held
    out whole (its config's `test_real_sources`) are labelled apart, "test-real-speakers
    (fotaq)", so that one large source does not swamp the others' speakers. `limit`: at most
    this many sequences per label, spread evenly, so a limit never leaves out the real voices.
    A sequence that two of `splits` name ("test" holds "test-real-speakers") is loaded once."""
    from .corpus.store import REAL_SPEAKER_SPLITS, Corpus, is_real, real_speaker_split
    out, seen = [], set()
    corpus = Corpus(corpus_root)
    whole = set(corpus.manifest.get("config", {}).get("test_real_sources", ()))

    def label_of(rec: dict, real: bool, name: str) -> str:
        if not real:
            return name
        label = real_speaker_split(rec) or f"{rec['split']}-real"
        return f"{label} ({rec['source']})" if rec["source"] in whole else label

    for split in splits:
        parts = [(True, split)] if split in REAL_SPEAKER_SPLITS else [(False, split), (True, split)]
        for real, name in parts:
            view = corpus.select(split=name, where=lambda r, real=real: is_real(r) == real)
            groups: dict[str, list[int]] = {}
            for i, rec in enumerate(view.records):
                groups.setdefault(label_of(rec, real, name), []).append(i)
            for label, idx in groups.items():
                n = len(idx) if not limit else min(limit, len(idx))
                for j in np.linspace(0, len(idx) - 1, n).astype(int) if n else []:
                    i = idx[int(j)]
                    uid = view.records[i]["uid"]
                    if uid in seen:
                        continue
                    seen.add(uid)
                    out.append(_sequence(view, i, label))
    return out


def load_voice_sequences(corpus_root: str, voice: str, limit: int = 0) -> list[Sequence]:
    """Up to `limit` (0: all) sequences of one voice, spread evenly, whatever their split, each
    labelled by the voice: e.g. a real source a checkpoint never trained on."""
    from .corpus.store import Corpus
    view = Corpus(corpus_root).select(voice=voice)
    if not len(view):
        raise ValueError(f"voice {voice!r} is not in {corpus_root} (was it built with its "
                         "source? facestream data build --real-sources ...)")
    n = len(view) if not limit else min(limit, len(view))
    return [_sequence(view, int(i), voice) for i in np.linspace(0, len(view) - 1, n).astype(int)]


def _sequence(view, i: int, label: str) -> Sequence:
    """Record i of a corpus view as a Sequence labelled `label`."""
    from .corpus.store import speaker_of
    utt, tg = view[i]
    return Sequence(utt.uid, label, utt.audio, tg.arkit.astype(np.float32),
                    tg.jaw.astype(np.float32), tg.emotion.astype(np.float32),
                    tg.intensity.astype(np.float32), utt.phones, speaker_of(view.records[i]))


# ---- predictors ----------------------------------------------------------------------------


class TorchPredictor:
    """A checkpoint run over a whole sequence exactly as it streams (causal, state from zero),
    then shifted by its look-ahead, with L frames of silence flushed at the end."""

    def __init__(self, path: str, name: str | None = None):
        import torch
        from .checkpoint import load_checkpoint
        self.torch = torch
        self.model, blob = load_checkpoint(path)
        self.lookahead = self.model.config.lookahead
        self.offline = self.model.config.offline
        self.name = name or (f"offline ({Path(path).parent.name})" if self.offline
                             else f"causal L={self.lookahead} ({Path(path).parent.name})")
        self.latency_ms = None if self.offline else self.model.config.algorithmic_latency_ms

    def __call__(self, seq: Sequence) -> tuple[np.ndarray, np.ndarray]:
        with self.torch.no_grad():
            d = self.model.decode(stream_raw(self.model, seq))
        return d["arkit"].numpy(), d["jaw"].numpy()


class OnnxPredictor:
    """An exported model (.onnx, e.g. the shipped one or its int8 variant) run by onnxruntime
    over a whole sequence as it streams, the same way as `TorchPredictor`: one thread, state
    from zero, L frames of silence flushed, shifted by its look-ahead."""

    def __init__(self, path: str, name: str | None = None):
        from ..engine.backends import OnnxBackend
        self.backend = OnnxBackend(path, threads=1)
        self.lookahead = self.backend.info.lookahead
        self.offline = False
        self.name = name or f"onnx L={self.lookahead} ({Path(path).name})"
        self.latency_ms = self.backend.info.latency_ms

    def __call__(self, seq: Sequence) -> tuple[np.ndarray, np.ndarray]:
        t, lk = len(seq.arkit), self.lookahead
        audio, emo, inten = _padded_inputs(seq, lk)
        cond = np.concatenate([emo * inten[:, None], inten[:, None]], axis=-1)[None]
        out, _ = self.backend.step(audio[None], cond.astype(np.float32), self.backend.info.zero_state(1))
        out = out[0, lk:lk + t]
        return out[:, :vocab.NUM_ARKIT], out[:, vocab.NUM_ARKIT:vocab.NUM_ARKIT + 3]


class EnginePredictor:
    """A model as a person sees it: the streaming engine (`Engine`: 20 ms chunks as a microphone
    delivers them, the stream's smoothing, output frames at `fps`), the sequence's emotion
    track set on the stream chunk by chunk, blinks, gaze, head motion and brows off. The output
    frames are interpolated, by the audio time they show, back onto the targets' 100 fps grid
    (internal frame i is the hop centred at (i + 0.5) / 100 s)."""

    def __init__(self, path: str | None = None, fps: int = vocab.DEFAULT_FPS, chunk_ms: int = 20,
                 name: str | None = None):
        from ..engine.stream import Engine
        self.engine = Engine(path)
        self.fps, self.chunk = fps, vocab.SAMPLE_RATE * chunk_ms // 1000
        self.offline = False
        self.lookahead = self.engine.info.lookahead
        self.latency_ms = self.engine.latency_ms
        self.name = name or f"engine path, {fps} fps ({Path(path).name if path else 'shipped'})"

    def __call__(self, seq: Sequence) -> tuple[np.ndarray, np.ndarray]:
        stream = self.engine.create_stream(fps=self.fps)
        stream.set_behaviour(blinks=False, gaze="off", head=0.0, brows=0.0)
        frames, hop, last = [], vocab.HOP_SAMPLES, len(seq.emotion) - 1
        for i in range(0, len(seq.audio), self.chunk):
            k = min(i // hop, last)
            stream.set_emotion(seq.emotion[k], float(seq.intensity[k]), transition=0.0)
            stream.accept_waveform(vocab.SAMPLE_RATE, seq.audio[i:i + self.chunk])
            frames += self.engine.decode_stream(stream)
        stream.input_finished()
        frames += self.engine.decode_stream(stream)
        times = np.array([f.timestamp for f in frames])
        out = np.concatenate([np.stack([f.arkit for f in frames]),
                              np.stack([f.jaw_pose for f in frames])], axis=1)
        grid = (np.arange(len(seq.arkit)) + 0.5) / vocab.INTERNAL_FPS
        res = np.stack([np.interp(grid, times, col) for col in out.T], axis=1).astype(np.float32)
        return res[:, :vocab.NUM_ARKIT], res[:, vocab.NUM_ARKIT:]


def _padded_inputs(seq: Sequence, lk: int):
    """A sequence's audio (n*HOP), emotion (n x E) and intensity (n) for n = T + L steps: the
    audio padded with silence, the conditioning led by L copies of its first frame."""
    n = len(seq.arkit) + lk
    audio = np.zeros(n * vocab.HOP_SAMPLES, np.float32)
    audio[: min(len(seq.audio), n * vocab.HOP_SAMPLES)] = seq.audio[: n * vocab.HOP_SAMPLES]
    return audio, delay(seq.emotion[None], lk, n)[0], delay(seq.intensity[None], lk, n)[0]


def stream_raw(model, seq: Sequence):
    """A network's raw outputs for a sequence as it streams (causal, state from zero, L frames
    of silence flushed at the end), shifted by its look-ahead: T x OUT_DIM torch tensor."""
    import torch
    from .network import make_cond
    lk = model.config.lookahead
    audio, emo, inten = _padded_inputs(seq, lk)
    with torch.no_grad():
        cond = make_cond(torch.from_numpy(emo)[None], torch.from_numpy(inten)[None])
        raw, *_ = model(torch.from_numpy(audio)[None], cond, *model.init_state(1))
    return raw[0, lk:]


class TargetPredictor:
    """The targets themselves (the rig's face for the speech): how the rig scores on the
    realism figures (false closures, opening) that compare phones with lip gaps."""

    name, latency_ms = "rig targets", 0.0

    def __call__(self, seq: Sequence):
        return seq.arkit, seq.jaw


class NeutralPredictor:
    name, latency_ms = "neutral face", 0.0

    def __call__(self, seq: Sequence):
        t = len(seq.arkit)
        return np.zeros((t, vocab.NUM_ARKIT), np.float32), np.zeros((t, 3), np.float32)


def log_rms(audio: np.ndarray, n_frames: int, smooth: int = 3) -> np.ndarray:
    """Causal per-frame log RMS (dB), smoothed by a causal moving average of `smooth` frames."""
    hop = vocab.HOP_SAMPLES
    a = np.zeros(n_frames * hop, np.float32)
    a[: min(len(audio), len(a))] = audio[: len(a)]
    rms = np.sqrt(np.mean(a.reshape(n_frames, hop) ** 2, axis=1) + 1e-10)
    db = 20 * np.log10(rms)
    kernel = np.ones(smooth) / smooth
    return np.convolve(db, kernel)[:n_frames]


class EnergyPredictor:
    """jawOpen = clip(a * logRMS + b, 0, 1), jaw pitch from the one jawOpen definition."""

    name = "energy heuristic"
    latency_ms = 1000.0 * vocab.HOP_SAMPLES / vocab.SAMPLE_RATE

    def __init__(self, a: float = 0.0, b: float = 0.0, smooth: int = 3):
        self.a, self.b, self.smooth = a, b, smooth

    @classmethod
    def fit(cls, sequences: list[Sequence]) -> "EnergyPredictor":
        """Least squares on the training split, over the smoothing lengths 1..9 (fair tuning)."""
        best = None
        jk = vocab.ARKIT_INDEX["jawOpen"]
        for smooth in (1, 3, 5, 9):
            x = np.concatenate([log_rms(s.audio, len(s.arkit), smooth) for s in sequences])
            y = np.concatenate([s.arkit[:, jk] for s in sequences])
            keep = x > -80
            a, b = np.polyfit(x[keep], y[keep], 1)
            err = np.mean((np.clip(a * x + b, 0, 1) - y) ** 2)
            if best is None or err < best[0]:
                best = (err, a, b, smooth)
        return cls(best[1], best[2], best[3])

    def __call__(self, seq: Sequence):
        t = len(seq.arkit)
        arkit = np.zeros((t, vocab.NUM_ARKIT), np.float32)
        jo = np.clip(self.a * log_rms(seq.audio, t, self.smooth) + self.b, 0, 1)
        arkit[:, vocab.ARKIT_INDEX["jawOpen"]] = jo
        return arkit, vocab.jaw_open_to_pose(jo)


# ---- metrics -------------------------------------------------------------------------------


class MeasuredHead(FaceSubset):
    """The default head cut down to the vertices the metrics read (lips, upper face, mouth
    landmarks): the engine's skinning (`face.FaceSubset`), a fraction of the cost."""

    def __init__(self, head: Head):
        from ..engine.metrics import mouth_landmarks
        m = mouth_landmarks(head)
        super().__init__(head, np.unique(np.concatenate([
            head.regions["lips"], head.regions["upper_face"], m.upper_lip, m.lower_lip])))
        self.lips = self.positions(head.regions["lips"])
        self.upper = self.positions(head.regions["upper_face"])
        self.template = self.head.template


OPEN_MM = 2.0  # lip gap (mm) above which an open vowel counts as opened


def sequence_metrics(mh: MeasuredHead, seq: Sequence, arkit: np.ndarray, jaw: np.ndarray) -> dict:
    vp, vt = mh.vertices(arkit, jaw), mh.vertices(seq.arkit, seq.jaw)
    d2 = np.sum((vp[:, mh.lips] - vt[:, mh.lips]) ** 2, axis=-1)  # T x L
    d = np.sqrt(d2)
    rest = mh.template[mh.upper]
    fdd_t = np.linalg.norm(vt[:, mh.upper] - rest, axis=-1).std(0)
    fdd_p = np.linalg.norm(vp[:, mh.upper] - rest, axis=-1).std(0)
    gap = mh.lip_gap(vp) * 1000.0
    tgap = mh.lip_gap(vt) * 1000.0
    opened = n_open = closed_any = 0
    bilabial_min_gap = []
    cls_n = dict.fromkeys(PHONE_CLASSES, 0)
    cls_shut = dict.fromkeys(PHONE_CLASSES, 0)
    cls_gap = dict.fromkeys(PHONE_CLASSES, 0.0)
    cls_tgap = dict.fromkeys(PHONE_CLASSES, 0.0)
    for s in seq.phones:
        t = min(int((s.start + s.end) / 2 * vocab.INTERNAL_FPS), len(gap) - 1)
        if s.phone in OPEN_VOWELS:
            opened += gap[t] > OPEN_MM
            n_open += 1
        c = phone_class(s.phone)
        if c == "bilabial":  # timing-tolerant: the lips shut at any frame inside the phone
            lo = min(int(s.start * vocab.INTERNAL_FPS), len(gap) - 1)
            hi = max(lo + 1, min(int(np.ceil(s.end * vocab.INTERNAL_FPS)), len(gap)))
            bilabial_min_gap.append(float(gap[lo:hi].min()))
            closed_any += bilabial_min_gap[-1] < CLOSED_MM
        cls_n[c] += 1
        cls_shut[c] += bool(gap[t] < CLOSED_MM)
        cls_gap[c] += float(gap[t])
        cls_tgap[c] += float(tgap[t])
    emo_err = np.abs(arkit[:, EXPRESSION_SHAPES] - seq.arkit[:, EXPRESSION_SHAPES]).mean(1)
    return {"frames": len(vp), "lve_sum": float(d2.max(1).sum()), "lip_mean_sum": float(d.mean(1).sum()),
            "lip_max_sum": float(d.max(1).sum()), "fdd_abs": float(np.mean(np.abs(fdd_t - fdd_p))),
            "closed": cls_shut["bilabial"], "bilabials": cls_n["bilabial"], "opened": int(opened),
            "closed_any": int(closed_any), "bilabial_min_gap": bilabial_min_gap,
            "open_vowels": int(n_open), "emo_err": emo_err,
            "dominant": seq.emotion.argmax(1), "intensity": seq.intensity,
            "voice": seq.voice, "class_n": cls_n, "class_shut": cls_shut, "class_gap": cls_gap,
            "class_target_gap": cls_tgap, "gap_p95": float(np.percentile(gap, 95)),
            "target_gap_p95": float(np.percentile(tgap, 95)), "lead_corr": lead_correlation(gap, tgap)}


def lead_correlation(pred: np.ndarray, target: np.ndarray,
                     max_lag: int = MAX_LEAD_FRAMES) -> np.ndarray:
    """Correlation of pred[t] with target[t + k], k = -max_lag..max_lag: (2 max_lag + 1,),
    NaN where undefined. The argmax k is the model's lead over its targets in frames
    (positive: the prediction shows a movement before its targets do)."""
    out = np.full(2 * max_lag + 1, np.nan)
    for i, k in enumerate(range(-max_lag, max_lag + 1)):
        a, b = (pred[:len(pred) - k], target[k:]) if k >= 0 else (pred[-k:], target[:k])
        if len(a) > 3:
            a, b = a - a.mean(), b - b.mean()
            den = np.sqrt((a * a).sum() * (b * b).sum())
            if den > 1e-12:
                out[i] = float((a * b).sum() / den)
    return out


def _realism(rows: list[dict]) -> dict:
    """The issue-12 realism figures of a set of sequence_metrics rows."""
    n = {c: sum(r["class_n"][c] for r in rows) for c in PHONE_CLASSES}
    shut = {c: sum(r["class_shut"][c] for r in rows) for c in PHONE_CLASSES}
    gap = {c: sum(r["class_gap"][c] for r in rows) / n[c] for c in PHONE_CLASSES if n[c]}
    tgap = {c: sum(r["class_target_gap"][c] for r in rows) / n[c] for c in PHONE_CLASSES if n[c]}
    false = {c: shut[c] / n[c] for c in CONSONANT_CLASSES[1:] + ("silence",) if n[c]}
    corr = np.stack([r["lead_corr"] for r in rows]) if rows else None
    lead_ms = None
    if corr is not None and np.isfinite(corr).any():
        corr = np.nansum(corr, axis=0) / np.maximum(np.isfinite(corr).sum(0), 1)
        lead_ms = 10.0 * (int(np.nanargmax(corr)) - MAX_LEAD_FRAMES)
    p95 = float(np.median([r["gap_p95"] for r in rows])) if rows else float("nan")
    tp95 = float(np.median([r["target_gap_p95"] for r in rows])) if rows else float("nan")
    return {"false_closure_by_class": false, "phones_by_class": n, "gap_by_class_mm": gap,
            "target_gap_by_class_mm": tgap, "gap_p95_mm": p95, "target_gap_p95_mm": tp95,
            "gap_p95_ratio": p95 / tp95 if tp95 > 0 else float("nan"), "lead_ms": lead_ms}


def by_speaker(rows: list[dict]) -> dict:
    """{voice: {closure_rate, bilabials, worst false-closure class and rate}} of the rows."""
    out = {}
    for v in sorted({r["voice"] for r in rows}):
        sel = [r for r in rows if r["voice"] == v]
        bil = sum(r["bilabials"] for r in sel)
        rz = _realism(sel)
        worst = max(rz["false_closure_by_class"].items(), key=lambda kv: kv[1],
                    default=("", float("nan")))
        cons = {c: rz["false_closure_by_class"][c] for c in CONSONANT_CLASSES[1:]
                if c in rz["false_closure_by_class"]}
        out[v] = {"sequences": len(sel), "bilabials": bil,
                  "closure_rate": sum(r["closed"] for r in sel) / bil if bil else float("nan"),
                  "false_closure_by_class": rz["false_closure_by_class"],
                  "worst_false_closure": [worst[0], worst[1]],
                  "max_consonant_false_closure": max(cons.values(), default=float("nan")),
                  "gap_p95_ratio": rz["gap_p95_ratio"]}
    return out


def aggregate(rows: list[dict]) -> dict:
    frames = sum(r["frames"] for r in rows)
    emo = np.concatenate([r["emo_err"] for r in rows])
    dom = np.concatenate([r["dominant"] for r in rows])
    inten = np.concatenate([r["intensity"] for r in rows])
    per_emotion = {}
    for e, name in enumerate(vocab.EMOTION_NAMES):
        for lo, hi in ((0.0, 0.4), (0.4, 0.7), (0.7, 1.01)):
            sel = (dom == e) & (inten >= lo) & (inten < hi)
            if sel.any():
                per_emotion[f"{name}@{lo:.1f}-{min(hi, 1.0):.1f}"] = float(emo[sel].mean())
    bil = sum(r["bilabials"] for r in rows)
    return {
        "frames": frames, "sequences": len(rows),
        "LVE_1e-5m2": 1e5 * sum(r["lve_sum"] for r in rows) / frames,
        "lip_mean_mm": 1e3 * sum(r["lip_mean_sum"] for r in rows) / frames,
        "lip_max_mm": 1e3 * sum(r["lip_max_sum"] for r in rows) / frames,
        "FDD_1e-7m": 1e7 * float(np.mean([r["fdd_abs"] for r in rows])),
        "closure_rate": (sum(r["closed"] for r in rows) / bil) if bil else float("nan"),
        "bilabials": bil,
        # the lips shut anywhere inside the /p b m/ (not only at its centre), and the median of
        # the smallest gap inside each: tells late or early closures from missing ones
        "closure_any_rate": (sum(r.get("closed_any", 0) for r in rows) / bil) if bil else float("nan"),
        "bilabial_min_gap_mm": float(np.median([g for r in rows for g in r.get("bilabial_min_gap", [])]))
        if bil else float("nan"),
        "open_rate": (sum(r["opened"] for r in rows) / max(1, sum(r["open_vowels"] for r in rows))),
        "emotion_mae": float(emo.mean()),
        "emotion_mae_by": per_emotion,
        **_realism(rows),
        "by_speaker": by_speaker(rows),
    }


def evaluate(predictors, sequences: list[Sequence], head: Head | None = None) -> dict:
    """-> {split: {predictor name: metrics}} plus each predictor's latency."""
    mh = MeasuredHead(head or load_head())
    results: dict = {"latency_ms": {p.name: p.latency_ms for p in predictors}, "splits": {}}
    for split in sorted({s.split for s in sequences}):
        seqs = [s for s in sequences if s.split == split]
        results["splits"][split] = {}
        for p in predictors:
            rows = [sequence_metrics(mh, s, *p(s)) for s in seqs]
            results["splits"][split][p.name] = aggregate(rows)
    return results


def markdown_table(results: dict) -> str:
    lines = []
    for split, by_model in results["splits"].items():
        lines.append(f"\n**{split}** ({next(iter(by_model.values()))['sequences']} sequences)\n")
        lines.append("| model | latency (ms) | LVE (1e-5 m²) | lip mean / max (mm) | FDD (1e-7 m) "
                     "| closure rate | open-vowel rate | emotion MAE |")
        lines.append("|---|---|---|---|---|---|---|---|")
        for name, m in by_model.items():
            lat = results["latency_ms"].get(name)
            lat = "offline" if lat is None else f"{lat:.0f}"
            lines.append(f"| {name} | {lat} | {m['LVE_1e-5m2']:.3f} | {m['lip_mean_mm']:.2f} / "
                         f"{m['lip_max_mm']:.2f} | {m['FDD_1e-7m']:.2f} | {m['closure_rate']:.2f} "
                         f"({m['bilabials']}) | {m['open_rate']:.2f} | {m['emotion_mae']:.3f} |")
    lines.append(realism_table(results))
    lines.append(f"\nClosure: lip gap below {CLOSED_MM} mm at the centre of /p b m/; open-vowel "
                 f"rate: lip gap above {OPEN_MM} mm at the centre of open vowels.")
    return "\n".join(lines)


def realism_table(results: dict) -> str:
    """Markdown: false closures per class, lip opening against the targets, lead; and per
    speaker on the real splits."""
    lines = []
    cls = CONSONANT_CLASSES[1:] + ("silence",)
    for split, by_model in results["splits"].items():
        lines.append(f"\n**{split}**: realism (false closures = share of phone centres with "
                     f"the lips shut)\n")
        lines.append("| model | closure /p b m/ (centre / anywhere inside; median smallest gap mm) "
                     "| false closures " + " / ".join(cls)
                     + " | lip opening p95 (targets) mm | ratio | opening at open vowels / "
                       "reduced / alveolar / velar (targets) mm | lead (ms) |")
        lines.append("|---|---|---|---|---|---|---|")
        for name, m in by_model.items():
            fc = " / ".join(f"{m['false_closure_by_class'].get(c, float('nan')):.2f}" for c in cls)
            g, t = m["gap_by_class_mm"], m["target_gap_by_class_mm"]
            op = " / ".join(f"{g.get(c, float('nan')):.1f} ({t.get(c, float('nan')):.1f})"
                            for c in ("open vowel", "reduced vowel", "alveolar", "velar"))
            lead = "–" if m["lead_ms"] is None else f"{m['lead_ms']:+.0f}"
            lines.append(f"| {name} | {m['closure_rate']:.2f} / {m.get('closure_any_rate', float('nan')):.2f}; "
                         f"{m.get('bilabial_min_gap_mm', float('nan')):.1f} | {fc} | {m['gap_p95_mm']:.1f} "
                         f"({m['target_gap_p95_mm']:.1f}) | {m['gap_p95_ratio']:.2f} | {op} | {lead} |")
        if "real" in split:
            for name, m in by_model.items():
                if not name.startswith(("shipped", "causal", "offline")):
                    continue
                lines.append(f"\n{name}, per speaker ({split}):\n")
                lines.append("| speaker | sequences | closure (bilabials) | worst false-closure "
                             "class | max consonant false closure | p95 ratio |")
                lines.append("|---|---|---|---|---|---|")
                for v, r in m["by_speaker"].items():
                    w = r["worst_false_closure"]
                    lines.append(f"| {v} | {r['sequences']} | {r['closure_rate']:.2f} "
                                 f"({r['bilabials']}) | {w[0]} {w[1]:.2f} | "
                                 f"{r['max_consonant_false_closure']:.2f} | {r['gap_p95_ratio']:.2f} |")
    return "\n".join(lines)


def plot_latency_curve(results: dict, path: str | Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    splits = list(results["splits"])
    roles = results.get("roles", {})

    def role_of(name: str) -> str:  # results written before roles existed: infer from the name
        return roles.get(name, "sweep" if name.startswith("causal") else "baseline")

    fig, axes = plt.subplots(1, len(splits), figsize=(5 * len(splits), 3.6), squeeze=False)
    for ax, split in zip(axes[0], splits):
        rows = results["splits"][split]
        pts = sorted((results["latency_ms"][n], m["LVE_1e-5m2"]) for n, m in rows.items()
                     if role_of(n) == "sweep")
        if pts:
            ax.plot([p[0] for p in pts], [p[1] for p in pts], "o-", color="C0",
                    label="causal, equal budget (look-ahead sweep)")
        colour = iter(f"C{i}" for i in range(1, 10))
        for n, m in rows.items():
            role = role_of(n)
            if role == "shipped":
                ax.plot([results["latency_ms"][n]], [m["LVE_1e-5m2"]], "*", ms=13, color="black", label=n)
            elif role != "sweep" and n != TargetPredictor.name:  # LVE 0 by definition
                ax.axhline(m["LVE_1e-5m2"], ls="--", lw=1, label=n, color=next(colour))
        ax.set_xlabel("algorithmic latency (ms)")
        ax.set_ylabel("LVE (1e-5 m²)")
        ax.set_title(split)
        ax.legend(fontsize=7)
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv=None) -> int:
    import argparse
    ap = argparse.ArgumentParser(prog="facestream eval", description=__doc__.split("\n")[0])
    ap.add_argument("--corpus", default="build/corpus")
    ap.add_argument("--model", action="append", default=[], help="causal checkpoint (repeatable)")
    ap.add_argument("--offline", action="append", default=[], help="offline checkpoint")
    ap.add_argument("--compare", action="append", default=[], help="a checkpoint to show beside "
                    "the shipped one, not as a point of the look-ahead sweep: e.g. an earlier "
                    "shipped model (repeatable)")
    ap.add_argument("--shipped", help="the shipped model's checkpoint, shown apart from the sweep")
    ap.add_argument("--onnx", action="append", default=[], help="an exported .onnx model run by "
                    "onnxruntime, e.g. an int8 variant beside its float original (repeatable)")
    ap.add_argument("--engine", action="append", default=[], help="a model run through the "
                    "streaming engine as a person sees it (20 ms chunks, smoothing, 30 fps out): "
                    "an exported model, or 'shipped' (repeatable)")
    ap.add_argument("--splits", default="test,val")
    ap.add_argument("--limit", type=int, default=0, help="at most this many sequences per split")
    ap.add_argument("--voices", default="", help="comma-separated voices to evaluate whole, "
                    "whatever their split, each as its own group: a real source the models "
                    "never trained on (e.g. fotaq-en in a corpus built with it)")
    ap.add_argument("--json", help="write the results as JSON here")
    ap.add_argument("--markdown", help="write the markdown table here")
    ap.add_argument("--plot", help="write the quality-versus-latency PNG here")
    args = ap.parse_args(argv)
    seqs = load_sequences(args.corpus, tuple(p for p in args.splits.split(",") if p), args.limit)
    for voice in (v for v in args.voices.split(",") if v):
        seqs += [dataclasses.replace(s, split=f"{voice} (whole voice)")
                 for s in load_voice_sequences(args.corpus, voice, args.limit)]
    if not seqs:
        print(f"no held-out sequences in {args.corpus}", file=sys.stderr)
        return 2
    train = load_sequences(args.corpus, ("train",), limit=300)
    preds = [NeutralPredictor(), EnergyPredictor.fit(train), TargetPredictor()]
    preds += [TorchPredictor(p) for p in args.model + args.offline]
    roles = {p.name: "baseline" for p in preds[:3]}
    roles.update({p.name: "offline" if p.offline else "sweep" for p in preds[3:]})
    for path in args.compare:
        preds.append(TorchPredictor(path))
        roles[preds[-1].name] = "compare"
    for path in args.onnx:
        preds.append(OnnxPredictor(path))
        roles[preds[-1].name] = "exported"
    for path in args.engine:
        preds.append(EnginePredictor(None if path == "shipped" else path))
        roles[preds[-1].name] = "exported"
    if args.shipped:
        shipped = TorchPredictor(args.shipped)
        shipped.name = f"shipped model (L={shipped.lookahead})"
        preds.append(shipped)
        roles[shipped.name] = "shipped"
    res = evaluate(preds, seqs)
    res["roles"] = roles
    table = markdown_table(res)
    print(table)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(res, indent=1))
    if args.markdown:
        Path(args.markdown).parent.mkdir(parents=True, exist_ok=True)
        Path(args.markdown).write_text(table + "\n")
    if args.plot:
        plot_latency_curve(res, args.plot)
    return 0


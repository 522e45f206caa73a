"""Train the streaming network on a corpus built by `facestream data build`.

    facestream train --config configs/default.json
    facestream train --set steps=200 --set model.gru_hidden=64 --set out=runs/tiny
    torchrun --nproc_per_node=2 -m facestream.training.train --set ddp_backend=gloo

The config is a dataclass (a JSON file plus `--set key=value` overrides); it is saved in
every checkpoint. Losses: vertices of the default head (lip vertices weighted up), the
parameters, their velocity, and the lips-closed output. Augmentation (noise, reverb, EQ,
telephone, clipping, ...) is applied to each window as it is drawn, never baked in.
A run resumes from `OUT/last.pt` when it exists, with the same config (RESUME_MAY_CHANGE lists
what may differ). Every `val_every` steps the losses on fixed windows of the corpus's val split
go to OUT/val.csv and the lowest is kept as OUT/best.pt (beside last.pt and the final
model.pt). Logs: OUT/log.csv, OUT/val.csv and OUT/loss.png.
"""
from __future__ import annotations

import csv
import json
import math
import os
import sys
import time
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

import numpy as np
import torch

from .. import audio as faudio
from .. import vocab
from ..formats import float_to_pcm16, pcm16_to_float
from .checkpoint import load_checkpoint, save_checkpoint
from .network import StreamingFaceNet, ModelConfig, make_cond, vtlp_bins
from .face import FaceSubset, delay, jaw_pose, sample_face
from .phonemes import BILABIALS, INVENTORY, LABIODENTALS, SILENCE

MM_PER_M = 1000.0
_EPS = 1e-5  # the lips-closed probability is clamped to [eps, 1 - eps] inside the BCE


@dataclass(frozen=True)
class LossWeights:
    vertex: float = 1.0  # mean L2 (mm) over the lips and face_vertices face vertices (neck at rest)
    lip: float = 2.0  # extra weight of the lip vertices in the vertex loss
    face_vertices: int = 150  # non-lip face vertices the vertex loss samples (with TrainConfig.seed)
    param: float = 1.0  # L1 on ARKit weights and jaw pose
    jaw_param: float = 5.0  # the jaw pose's L1 (rad) against the ARKit weights' inside param
    velocity: float = 2.0  # L1 on frame-to-frame differences (mm/frame and weights/frame)
    arkit_velocity: float = 10.0  # ARKit weights/frame against vertex mm/frame inside velocity
    closure: float = 2.0  # BCE of the lips-closed output (see TrainConfig.closure_label)
    closed_extra: float = 1.0  # extra BCE weight on the closed frames (recall of closures)
    # extra BCE weight on /f v/ frames (phone labels only): the lip-to-teeth contact is the
    # open class most easily heard as a closure, so these are the classifier's hard negatives
    labiodental_extra: float = 0.0
    neck: float = 0.3  # L1 on the neck pose (rad)
    # L1 (mm) between each window's widest lip openings, predicted and target: the mean of the
    # top peak_share of its frames' lip gaps. Squared error rewards a damped mouth where the
    # voice is uncertain (issue 12: the network opened real voices ~60% as wide as its targets);
    # this term charges the undershoot of the window's open vowels whatever their timing.
    peak: float = 0.0
    peak_share: float = 0.1
    # False: the term's gradient reaches only what opens a mouth in speech (the jaw pose and
    # PEAK_OPENERS); the other shapes count at their predicted values but are not pushed. True:
    # every shape is pushed, and the network learnt to open by funnelling the lips (mouthFunnel
    # at twice its targets' mean) with the brows moving too (docs/eval/peak_loss_experiment.md).
    peak_all_shapes: bool = False


@dataclass(frozen=True)
class TrainConfig:
    corpus: str = "build/corpus"  # corpus root written by `facestream data build`
    out: str = "runs/default"  # checkpoints, logs and plots go here
    model: ModelConfig = field(default_factory=ModelConfig)
    loss: LossWeights = field(default_factory=LossWeights)
    steps: int = 6000  # optimiser steps
    batch_size: int = 16  # windows per step (per process under DDP)
    window_s: float = 3.0  # seconds of audio per window
    lr: float = 2e-3  # peak learning rate (AdamW), cosine decay after warm-up
    warmup_steps: int = 200
    weight_decay: float = 1e-4
    grad_clip: float = 1.0
    augment: bool = True  # noise/reverb/EQ/... on each window
    # Speaker variety: each window's spectrum is warped by a factor drawn from
    # U(1 - vtlp, 1 + vtlp) (vocal tract length perturbation, in the frontend); 0: off.
    vtlp: float = 0.0
    # Frequency masking (SpecAugment, Park et al. 2019, without its time masks, which would
    # hide the sound a frame's face comes from): freq_masks bands of up to freq_mask_width
    # mel bands each are set to 0 (the features' mean) in each window; 0: off.
    freq_masks: int = 0
    freq_mask_width: int = 8
    real_weight: float = 1.0  # how much likelier a second of recorded speech is drawn than synthetic
    augment_config: dict = field(default_factory=dict)  # AugmentConfig fields to change, e.g. p_gsm
    warmup_frames: int = 25  # frames at a mid-utterance window start left out of the loss
    closed_mm: float = 1.0  # target lip gap below which the lips count as closed
    # True: only the BCE trains the lips-closed output (a classifier); the face losses see its
    # gate but do not push it to hedge between open and closed.
    closure_detach: bool = True
    # What the lips-closed output learns: "phones" (1 inside /p b m/, 0 in other speech,
    # silence left out: a pause's lips are open or shut at the speaker's whim) or "gap" (the
    # target face's lip gap below closed_mm, silence included).
    closure_label: str = "phones"
    init_from: str = ""  # start from this checkpoint's weights (fine-tuning); ignored on resume
    seed: int = 0
    threads: int = 0  # torch intra-op threads (0: all cores)
    log_every: int = 25
    ckpt_every: int = 250
    time_limit_min: float = 0.0  # stop (and save) after this many minutes; 0: no limit
    val_every: int = 250  # steps between losses on the corpus's val split (OUT/val.csv, best.pt); 0: none
    val_windows: int = 64  # val windows, drawn once per run (fixed seed, no augmentation)
    ddp_backend: str = "gloo"  # torch.distributed backend under torchrun (gloo on CPU, nccl on GPU)
    device: str = "cpu"

    def validate(self) -> None:
        self.model.validate()
        if self.steps < 1 or self.batch_size < 1 or self.window_s <= 0:
            raise ValueError("steps, batch_size and window_s must be positive")
        if self.val_every < 0 or self.val_windows < 1:
            raise ValueError(f"val_every must be >= 0 (0: no validation) and val_windows >= 1, "
                             f"got {self.val_every}, {self.val_windows}")
        if self.freq_masks < 0 or not 1 <= self.freq_mask_width <= self.model.n_mels // 2:
            raise ValueError(f"freq_masks must be >= 0 and freq_mask_width in 1..n_mels/2, got "
                             f"{self.freq_masks}, {self.freq_mask_width}")
        if not 0.0 <= self.vtlp < 0.5 or self.real_weight <= 0:
            raise ValueError(f"vtlp must be in [0, 0.5) and real_weight > 0, got {self.vtlp}, "
                             f"{self.real_weight}")
        from .corpus.augment import AugmentConfig
        try:
            AugmentConfig(**self.augment_config)
        except TypeError as e:
            raise ValueError(f"augment_config: {e}; its keys are AugmentConfig's fields "
                             "(training/corpus/augment.py)") from None
        if self.closure_label not in ("phones", "gap"):
            raise ValueError(f"closure_label must be 'phones' or 'gap', got {self.closure_label!r}")
        if self.window_s * vocab.INTERNAL_FPS <= self.warmup_frames + self.model.lookahead + 2:
            raise ValueError(f"window_s={self.window_s} is too short for warmup_frames="
                             f"{self.warmup_frames} and lookahead={self.model.lookahead}")


# What may differ between the config a run was started with and the one that resumes it:
# how long it runs (steps, time_limit_min: the cosine schedule follows the new steps), how
# often it reports and saves, where it runs (threads, device, ddp_backend, out: a run
# directory may move) and init_from (ignored on resume). Everything else is the experiment.
RESUME_MAY_CHANGE = frozenset({"steps", "time_limit_min", "log_every", "ckpt_every", "val_every",
                               "threads", "device", "ddp_backend", "out", "init_from"})


def _flat(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = list(v) if isinstance(v, tuple) else v
    return out


def config_differences(saved: dict, cfg: TrainConfig) -> dict[str, tuple]:
    """{dotted field: (saved, now)} where a checkpoint's train_config and `cfg` differ, leaving
    out RESUME_MAY_CHANGE. A field the checkpoint lacks (it predates the field) counts as the
    field's default, which is how the code that wrote it trained."""
    old = {**_flat(asdict(TrainConfig())), **_flat(saved)}
    now = _flat(asdict(cfg))
    missing = object()
    return {k: (old.get(k, missing), now.get(k, missing)) for k in sorted(set(old) | set(now))
            if k.split(".")[0] not in RESUME_MAY_CHANGE and old.get(k, missing) != now.get(k, missing)}


def _coerce(value: str, current):
    if isinstance(current, bool):
        if value.lower() in ("1", "true", "yes", "on"):
            return True
        if value.lower() in ("0", "false", "no", "off"):
            return False
        raise ValueError(f"expected a boolean, got {value!r}")
    if isinstance(current, int):
        return int(value)
    if isinstance(current, float):
        return float(value)
    return value


def apply_overrides(cfg, overrides: dict):
    """Nested dataclass update from {"model.lookahead": "2", "steps": 100} (values may be str)."""
    top: dict = {}
    nested: dict[str, dict] = {}
    names = {f.name for f in fields(cfg)}
    for key, value in overrides.items():
        head, _, rest = key.partition(".")
        if head not in names:
            raise ValueError(f"unknown config key {key!r}: expected one of {', '.join(sorted(names))}")
        if rest:
            nested.setdefault(head, {})[rest] = value
        else:
            cur = getattr(cfg, head)
            if isinstance(value, dict):
                nested.setdefault(head, {}).update(value)
            else:
                top[head] = _coerce(value, cur) if isinstance(value, str) else value
    for head, sub in nested.items():
        cur = getattr(cfg, head)
        if isinstance(cur, dict):  # a free-form dict field (augment_config): keys merged
            top[head] = {**cur, **{k: _json_or_str(v) for k, v in sub.items()}}
        else:
            top[head] = apply_overrides(cur, sub)
    return replace(cfg, **top)


def _json_or_str(value):
    """A --set value for a dict field: JSON when it parses (0.2, true, [1, 2]), else the text."""
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value


def load_config(path: str | None = None, sets: list[str] | None = None) -> TrainConfig:
    cfg = TrainConfig()
    if path:
        with open(path) as f:
            raw = json.load(f)
        # keys starting with "_" are comments
        cfg = apply_overrides(cfg, {k: v for k, v in raw.items() if not k.startswith("_")})
    overrides = {}
    for s in sets or []:
        if "=" not in s:
            raise ValueError(f"--set expects key=value, got {s!r}")
        k, v = s.split("=", 1)
        overrides[k.strip()] = v.strip()
    cfg = apply_overrides(cfg, overrides)
    cfg.validate()
    return cfg


# ---- data -------------------------------------------------------------------------------


_PHONE_LABEL = np.array([1.0 if p.symbol in BILABIALS else -1.0 if p.symbol == SILENCE else 0.0
                         for p in INVENTORY], np.float32)


_LABIODENTAL = np.array([p.symbol in LABIODENTALS for p in INVENTORY], np.float32)


def bilabial_labels(phone_ids: np.ndarray) -> np.ndarray:
    """T phone indices (phonemes.INVENTORY) -> T labels: 1 bilabial, 0 other speech, -1 silence."""
    return _PHONE_LABEL[np.asarray(phone_ids, np.int64)]


def labiodental_labels(phone_ids: np.ndarray) -> np.ndarray:
    """T phone indices -> T labels: 1 inside /f v/ (and other labiodentals), else 0."""
    return _LABIODENTAL[np.asarray(phone_ids, np.int64)]


class WindowSampler:
    """Draws random fixed-length windows from in-memory clips, frame-aligned.

    Each clip: audio (S,) float32/int16 at 16 kHz and targets with T frames (100 fps).
    A batch: audio B x (N*HOP), arkit B x N x K, jaw/neck B x N x 3, emotion B x N x E,
    intensity B x N, mask B x N (0 on warm-up frames of windows starting mid-utterance),
    bilabial B x N (`bilabial_labels` of the frames' phones), labiodental B x N
    (`labiodental_labels`).
    """

    def __init__(self, clips: list[dict], cfg: TrainConfig, augmenter=None, rng=None):
        self.clips = [c for c in clips if len(c["arkit"]) >= 8]
        if not self.clips:
            raise ValueError("no training clips: build a corpus first (facestream data build)")
        self.cfg = cfg
        self.n = int(round(cfg.window_s * vocab.INTERNAL_FPS))
        self.aug = augmenter
        self.rng = rng or np.random.default_rng(cfg.seed)
        from .corpus.store import REAL_SOURCES
        lengths = np.array([len(c["arkit"]) for c in self.clips], dtype=np.float64)
        lengths *= [cfg.real_weight if c.get("source") in REAL_SOURCES else 1.0 for c in self.clips]
        self.p = lengths / lengths.sum()

    def batch(self, size: int) -> dict[str, torch.Tensor]:
        n, hop = self.n, vocab.HOP_SAMPLES
        keys = ("audio", "arkit", "jaw", "neck", "emotion", "intensity", "mask", "bilabial",
                "labiodental")
        out = {k: [] for k in keys}
        for ci in self.rng.choice(len(self.clips), size=size, p=self.p):
            c = self.clips[ci]
            t_len = len(c["arkit"])
            start = 0 if t_len <= n or self.rng.random() < 0.3 else int(self.rng.integers(0, t_len - n))
            frames = np.arange(start, start + n).clip(max=t_len - 1)
            valid = (np.arange(start, start + n) < t_len).astype(np.float32)
            if start > 0:
                valid[: self.cfg.warmup_frames] = 0.0
            a = np.zeros(n * hop, np.float32)
            seg = c["audio"][start * hop:(start + n) * hop]
            seg = pcm16_to_float(seg) if seg.dtype == np.int16 else seg
            a[: len(seg)] = seg
            if self.aug is not None:
                a = self.aug(a, self.rng)
            out["audio"].append(a)
            for k in ("arkit", "jaw", "neck", "emotion", "intensity"):
                out[k].append(np.asarray(c[k][frames], dtype=np.float32))
            out["mask"].append(valid)
            out["bilabial"].append(bilabial_labels(c["phone_ids"][frames]))
            out["labiodental"].append(labiodental_labels(c["phone_ids"][frames]))
        return {k: torch.from_numpy(np.stack(v)) for k, v in out.items()}


# ---- losses -----------------------------------------------------------------------------


# The shapes that open a mouth in speech, beside the jaw pose: what the peak term may push.
PEAK_OPENERS = ("jawOpen", "mouthLowerDownLeft", "mouthLowerDownRight", "mouthUpperUpLeft",
                "mouthUpperUpRight")


class VertexLoss(torch.nn.Module):
    """Vertex error on a subset of a head (all lip vertices + `n_face` sampled face vertices),
    skinned by the engine's `TorchHead` with only the jaw posed (`face.FaceSubset`); and the
    lip gap alone, from the midline lip vertices only (`mouth_gap`)."""

    def __init__(self, head, n_face: int = 150, seed: int = 0):
        super().__init__()
        from ..engine.lbs_torch import TorchHead
        from ..engine.metrics import mouth_landmarks
        self.subset = FaceSubset(head, sample_face(head, n_face, seed))
        self.face = TorchHead(self.subset.head)
        self.n_lips = len(head.regions["lips"])  # the first n_lips vertices are the lips
        marks = mouth_landmarks(head)
        self.mouth = FaceSubset(head, np.concatenate([marks.upper_lip, marks.lower_lip]))
        self.mouth_face = TorchHead(self.mouth.head)
        openers = torch.zeros(vocab.NUM_ARKIT, dtype=torch.bool)
        openers[[vocab.ARKIT_INDEX[n] for n in PEAK_OPENERS]] = True
        self.register_buffer("openers", openers)

    def vertices(self, arkit: torch.Tensor, jaw: torch.Tensor) -> torch.Tensor:
        """arkit B x N x K, jaw B x N x 3 -> B x N x V' x 3 (neck, global, eyes at rest)."""
        b, n, k = arkit.shape
        v = self.face(arkit.reshape(b * n, k), jaw_pose(jaw.reshape(b * n, 3)))  # BN x V' x 3
        return v.reshape(b, n, -1, 3)

    def lip_gap(self, verts: torch.Tensor, subset: FaceSubset | None = None) -> torch.Tensor:
        """B x N x V' x 3 -> B x N lip opening (m), as engine.metrics.lip_gap measures it."""
        subset = subset or self.subset
        up = verts[..., subset.up_lip, 1].amin(-1)
        lo = verts[..., subset.lo_lip, 1].amax(-1)
        return (up - lo).clamp(min=0)

    def mouth_gap(self, arkit: torch.Tensor, jaw: torch.Tensor, openers_only: bool) -> torch.Tensor:
        """arkit B x N x K, jaw B x N x 3 -> B x N lip gap (m). openers_only: gradients reach
        the jaw and the PEAK_OPENERS shapes only (the other shapes enter as constants)."""
        if openers_only:
            arkit = torch.where(self.openers, arkit, arkit.detach())
        b, n, k = arkit.shape
        v = self.mouth_face(arkit.reshape(b * n, k), jaw_pose(jaw.reshape(b * n, 3)))
        return self.lip_gap(v.reshape(b, n, -1, 3), self.mouth)


def compute_losses(pred: dict, tgt: dict, mask: torch.Tensor, vl: VertexLoss, cfg: TrainConfig):
    """pred/tgt: arkit B x N x K, jaw/neck B x N x 3 (pred also closure B x N); mask B x N."""
    w = cfg.loss
    denom = mask.sum().clamp(min=1)
    vp = vl.vertices(pred["arkit"], pred["jaw"])
    with torch.no_grad():
        vt = vl.vertices(tgt["arkit"], tgt["jaw"])
    err = (vp - vt).norm(dim=-1) * MM_PER_M  # B x N x V'
    lipw = torch.ones(err.shape[-1], device=err.device)
    lipw[: vl.n_lips] += w.lip
    vert = ((err * lipw).sum(-1) / lipw.sum() * mask).sum() / denom
    param = (((pred["arkit"] - tgt["arkit"]).abs().mean(-1)
              + (pred["jaw"] - tgt["jaw"]).abs().mean(-1) * w.jaw_param) * mask).sum() / denom
    vmask = mask[:, 1:] * mask[:, :-1]
    vden = vmask.sum().clamp(min=1)
    dv = ((vp[:, 1:] - vp[:, :-1]) - (vt[:, 1:] - vt[:, :-1])).norm(dim=-1).mean(-1) * MM_PER_M
    da = ((pred["arkit"][:, 1:] - pred["arkit"][:, :-1]) - (tgt["arkit"][:, 1:] - tgt["arkit"][:, :-1])).abs().mean(-1)
    vel = ((dv + da * w.arkit_velocity) * vmask).sum() / vden
    if cfg.closure_label == "phones" and "bilabial" in tgt:
        closed = (tgt["bilabial"] > 0).float()
        cmask = mask * (tgt["bilabial"] >= 0).float()
        hard = tgt["labiodental"] if "labiodental" in tgt else torch.zeros_like(closed)
    else:
        closed = (vl.lip_gap(vt) < cfg.closed_mm / MM_PER_M).float()
        cmask = mask
        hard = torch.zeros_like(closed)
    bce = torch.nn.functional.binary_cross_entropy(pred["closure"].clamp(_EPS, 1 - _EPS), closed,
                                                   reduction="none")
    weight = 1 + w.closed_extra * closed + w.labiodental_extra * hard
    clos = (bce * weight * cmask).sum() / cmask.sum().clamp(min=1)
    neck = ((pred["neck"] - tgt["neck"]).abs().mean(-1) * mask).sum() / denom
    total = w.vertex * vert + w.param * param + w.velocity * vel + w.closure * clos + w.neck * neck
    parts = {"total": 0.0, "vertex_mm": vert.item(), "param": param.item(),
             "velocity": vel.item(), "closure_bce": clos.item(), "neck": neck.item()}
    if w.peak:  # (logged only when on: a resumed run's CSV keeps its columns)
        gap = vl.mouth_gap(pred["arkit"], pred["jaw"], openers_only=not w.peak_all_shapes)
        peak = peak_loss(gap, vl.lip_gap(vt), mask, w.peak_share)
        total = total + w.peak * peak
        parts["peak_mm"] = peak.item()
    parts["total"] = total.item()
    return total, parts


def peak_loss(gap_pred: torch.Tensor, gap_tgt: torch.Tensor, mask: torch.Tensor,
              share: float) -> torch.Tensor:
    """gap_pred/gap_tgt/mask B x N (lip gaps in m) -> the mean over windows of |mean of the
    widest `share` of the predicted gaps - the same of the target's| in mm (masked frames
    count as shut; windows with no valid frame are left out)."""
    k = max(1, int(round(share * gap_pred.shape[1])))
    top = lambda g: (g * mask).topk(k, dim=1).values.mean(1)  # noqa: E731
    valid = (mask.sum(1) > 0).float()
    diff = (top(gap_pred) - top(gap_tgt)).abs() * MM_PER_M
    return (diff * valid).sum() / valid.sum().clamp(min=1)


def shift_for_lookahead(batch: dict, lookahead: int) -> tuple[dict, torch.Tensor, torch.Tensor]:
    """Output step t describes frame t - L: align targets and conditioning accordingly.

    -> (targets B x N x ..., cond B x N x (E+1), mask B x N) all indexed by output step."""
    tgt = {k: delay(batch[k], lookahead) for k in ("arkit", "jaw", "neck", "bilabial", "labiodental")
           if k in batch}
    cond = make_cond(delay(batch["emotion"], lookahead), delay(batch["intensity"], lookahead))
    mask = delay(batch["mask"], lookahead).clone()
    mask[:, :lookahead] = 0
    return tgt, cond, mask


# ---- the loop ---------------------------------------------------------------------------


def load_clips(corpus_root: str, split: str = "train", limit_hours: float = 0.0) -> list[dict]:
    """All utterances of a split as in-memory clips (audio int16, targets float32)."""
    from .corpus.store import Corpus
    corpus = Corpus(corpus_root).select(split=split)
    clips, total = [], 0.0
    for utt, tg in corpus:
        a = float_to_pcm16(utt.audio)
        clips.append({"audio": a, "arkit": tg.arkit.astype(np.float32), "jaw": tg.jaw.astype(np.float32),
                      "neck": tg.neck.astype(np.float32), "emotion": tg.emotion.astype(np.float32),
                      "intensity": tg.intensity.astype(np.float32), "phone_ids": tg.phone_ids,
                      "voice": utt.voice, "source": utt.source})
        total += utt.duration
        if limit_hours and total > limit_hours * 3600:
            break
    return clips


def band_masks(rng: np.random.Generator, batch: int, n_mels: int, count: int, width: int) -> np.ndarray:
    """B x M multipliers: 1, with `count` runs of 0..width mel bands at random places set to 0."""
    out = np.ones((batch, n_mels), np.float32)
    for b in range(batch):
        for _ in range(count):
            w = int(rng.integers(0, width + 1))
            lo = int(rng.integers(0, n_mels - w + 1))
            out[b, lo:lo + w] = 0.0
    return out


@torch.no_grad()
def speech_mean(net: StreamingFaceNet, clips: list[dict], n_clips: int = 200) -> torch.Tensor:
    """The mean log-mel frame (M,) of up to n_clips clips spread over the list, each frame
    weighted as `RunningNorm` weighs speech: the prior a stream's running mean starts from."""
    ctx = torch.zeros(1, faudio.CONTEXT_SAMPLES)
    total, weight = torch.zeros(net.config.n_mels), torch.zeros(())
    for c in clips[:: max(1, len(clips) // n_clips)][:n_clips]:
        a = pcm16_to_float(c["audio"]) if c["audio"].dtype == np.int16 else c["audio"]
        n = len(a) // vocab.HOP_SAMPLES
        if n == 0:
            continue
        x = net.frontend(torch.cat([ctx, torch.from_numpy(a[: n * vocab.HOP_SAMPLES])[None]], 1))
        w = net.norm.weights(x)  # 1 x N
        total += (x[0] * w).sum(1)
        weight += w.sum()
    if weight <= 0:
        raise ValueError("no speech in the training clips to set the running normalisation's prior")
    return total / weight


class _AugmentAdapter:
    """Augmenter returns (audio, pad_front, pad_back); padding is off in training windows."""

    def __init__(self, babble_pool, overrides: dict | None = None):
        from .corpus.augment import AugmentConfig, Augmenter
        self.aug = Augmenter(AugmentConfig(p_pad=0.0, **(overrides or {})), babble_pool=babble_pool)

    def __call__(self, audio, rng):
        return self.aug(audio, rng).audio


def _ddp_info() -> tuple[int, int]:
    return int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))


def validation_set(clips: list[dict], cfg: TrainConfig) -> dict[str, torch.Tensor]:
    """cfg.val_windows windows of the val clips, drawn once with a fixed seed and no
    augmentation, so every validation pass of a run (and of its resumptions) sees the same."""
    return WindowSampler(clips, cfg, None, np.random.default_rng(cfg.seed + 7919)).batch(cfg.val_windows)


@torch.no_grad()
def validate(net: StreamingFaceNet, val: dict, vl: "VertexLoss", cfg: TrainConfig,
             device) -> dict[str, float]:
    """The training losses (no augmentation, no VTLP, eval mode) over a `validation_set`,
    averaged over windows, in batches of cfg.batch_size."""
    was_training = net.training
    net.eval()
    total: dict[str, float] = {}
    n = len(val["audio"])
    for i in range(0, n, cfg.batch_size):
        batch = {k: v[i:i + cfg.batch_size].to(device) for k, v in val.items()}
        b = len(batch["audio"])
        tgt, cond, mask = shift_for_lookahead(batch, cfg.model.lookahead)
        raw, *_ = net(batch["audio"], cond, *net.init_state(b))
        _, parts = compute_losses(net.decode(raw), tgt, mask, vl, cfg)
        for k, v in parts.items():
            total[k] = total.get(k, 0.0) + v * b / n
    net.train(was_training)
    return total


def train(cfg: TrainConfig, clips: list[dict] | None = None, progress: bool = True,
          val_clips: list[dict] | None = None) -> Path:
    """Train (resuming from OUT/last.pt if present); returns the final checkpoint path.

    clips / val_clips: in-memory clips (`load_clips`) instead of the corpus's train / val
    splits. Every cfg.val_every steps the losses on the val windows go to OUT/val.csv, and
    the lowest total is kept as OUT/best.pt. Resuming with a config that differs from the
    checkpoint's in more than RESUME_MAY_CHANGE is refused."""
    from ..engine.head import load_head

    rank, world = _ddp_info()
    if world > 1:
        import torch.distributed as dist
        dist.init_process_group(cfg.ddp_backend)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    torch.set_flush_denormal(True)  # silence in the audio otherwise slows the CPU GRU a lot
    torch.manual_seed(cfg.seed + rank)
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    if clips is None:
        clips = load_clips(cfg.corpus, "train")
    rng = np.random.default_rng(cfg.seed * 1000 + rank)
    babble = [pcm16_to_float(c["audio"]) for c in clips[:: max(1, len(clips) // 200)]]
    sampler = WindowSampler(clips, cfg, _AugmentAdapter(babble, cfg.augment_config) if cfg.augment else None, rng)
    head = load_head()
    device = torch.device(cfg.device)
    last = out / "last.pt"
    net = StreamingFaceNet(cfg.model)
    if net.norm is not None and not (last.exists() or cfg.init_from):
        net.norm.prior.copy_(speech_mean(net, clips))  # (a checkpoint brings its own prior)
    net = net.to(device)
    vl = VertexLoss(head, n_face=cfg.loss.face_vertices, seed=cfg.seed).to(device)
    opt = torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    step, best_val = 0, math.inf
    if last.exists():
        _, blob = load_checkpoint(last, map_location=device)
        diff = config_differences(blob.get("train_config") or {}, cfg)
        if diff:
            listed = "; ".join(f"{k}: {a!r} -> {b!r}" for k, (a, b) in diff.items())
            raise ValueError(f"{last} was trained with another config ({listed}): resume with "
                             f"its config (only {', '.join(sorted(RESUME_MAY_CHANGE))} may "
                             "change) or train into another out=")
        net.load_state_dict(blob["model"])
        if blob.get("optimizer"):
            opt.load_state_dict(blob["optimizer"])
        step = int(blob["step"])
        best_val = float(blob.get("extra", {}).get("best_val", math.inf))
        if rank == 0 and progress:
            print(f"resuming from {last} at step {step}")
    elif cfg.init_from:
        _, blob = load_checkpoint(cfg.init_from, map_location=device)
        net.load_state_dict(blob["model"])
        if rank == 0 and progress:
            print(f"initialised from {cfg.init_from}")
    val = None
    if rank == 0 and cfg.val_every:
        val_clips = load_clips(cfg.corpus, "val") if val_clips is None else val_clips
        val = validation_set(val_clips, cfg) if val_clips else None
        if val is None and progress:
            print(f"no val split in {cfg.corpus}: no validation loss, no best.pt")
    model = net
    if world > 1:
        model = torch.nn.parallel.DistributedDataParallel(net)

    def lr_at(s: int) -> float:
        if s < cfg.warmup_steps:
            return cfg.lr * (s + 1) / cfg.warmup_steps
        p = (s - cfg.warmup_steps) / max(1, cfg.steps - cfg.warmup_steps)
        return cfg.lr * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(1.0, p))))

    log_path = out / "log.csv"
    new_log = not log_path.exists() or step == 0
    if rank == 0 and step == 0:  # a fresh run: no validation rows or best.pt from an older one
        for stale in (out / "val.csv", out / "best.pt"):
            stale.unlink(missing_ok=True)
    logf = open(log_path, "w" if new_log else "a", newline="") if rank == 0 else None
    writer = None
    t0 = time.perf_counter()
    running: dict[str, float] = {}
    while step < cfg.steps:
        for g in opt.param_groups:
            g["lr"] = lr_at(step)
        batch = {k: v.to(device) for k, v in sampler.batch(cfg.batch_size).items()}
        tgt, cond, mask = shift_for_lookahead(batch, cfg.model.lookahead)
        warp = None
        if cfg.vtlp:
            alpha = rng.uniform(1 - cfg.vtlp, 1 + cfg.vtlp, cfg.batch_size)
            warp = torch.from_numpy(vtlp_bins(alpha, net.frontend.bins)).to(device)
        bands = None
        if cfg.freq_masks:
            bands = torch.from_numpy(band_masks(rng, cfg.batch_size, cfg.model.n_mels,
                                                cfg.freq_masks, cfg.freq_mask_width)).to(device)
        raw, *_ = model(batch["audio"], cond, *net.init_state(cfg.batch_size), warp=warp, bands=bands)
        pred = net.decode(raw, gate_grad=not cfg.closure_detach)
        loss, parts = compute_losses(pred, tgt, mask, vl, cfg)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), cfg.grad_clip)
        opt.step()
        step += 1
        for k, v in parts.items():
            running[k] = running.get(k, 0.0) + v
        if rank == 0 and step % cfg.log_every == 0:
            row = {"step": step, "lr": lr_at(step), "elapsed_s": round(time.perf_counter() - t0, 1)}
            row.update({k: round(v / cfg.log_every, 5) for k, v in running.items()})
            running = {}
            if writer is None:
                writer = csv.DictWriter(logf, fieldnames=list(row))
                if new_log:
                    writer.writeheader()
            writer.writerow(row)
            logf.flush()
            if progress:
                print(f"step {step}/{cfg.steps}  loss {row['total']:.3f}  vertex {row['vertex_mm']:.2f} mm"
                      f"  closure {row['closure_bce']:.3f}  {row['elapsed_s']:.0f}s", flush=True)
        over_time = cfg.time_limit_min and (time.perf_counter() - t0) > cfg.time_limit_min * 60
        if val is not None and (step % cfg.val_every == 0 or step == cfg.steps or over_time):
            vparts = validate(net, val, vl, cfg, device)
            _append_csv(out / "val.csv", {"step": step, **{k: round(v, 5) for k, v in vparts.items()}})
            if progress:
                print(f"step {step}  val loss {vparts['total']:.3f}  vertex "
                      f"{vparts['vertex_mm']:.2f} mm", flush=True)
            if vparts["total"] < best_val:
                best_val = vparts["total"]
                save_checkpoint(out / "best.pt", net, head=head.name, step=step, train_config=cfg,
                                extra={"val_loss": best_val})
        if rank == 0 and (step % cfg.ckpt_every == 0 or step == cfg.steps or over_time):
            save_checkpoint(last, net, head=head.name, step=step, train_config=cfg, optimizer=opt,
                            extra={"best_val": best_val})
        if over_time:
            break
    if rank == 0:
        final = out / "model.pt"
        save_checkpoint(final, net, head=head.name, step=step, train_config=cfg)
        logf.close()
        plot_log(log_path, out / "loss.png")
    if world > 1:
        import torch.distributed as dist
        dist.barrier()
        dist.destroy_process_group()
    return out / "model.pt"


def _append_csv(path: Path, row: dict) -> None:
    new = not path.exists()
    with open(path, "a", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(row))
        if new:
            w.writeheader()
        w.writerow(row)


def plot_log(log_csv: Path, png: Path) -> None:
    """Loss curves from the CSV log (needs matplotlib; silently nothing if it is missing)."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return
    rows = list(csv.DictReader(open(log_csv)))
    if not rows:
        return
    steps = [int(r["step"]) for r in rows]
    keys = [k for k in rows[0] if k not in ("step", "lr", "elapsed_s")]
    val_csv = log_csv.with_name("val.csv")
    val = list(csv.DictReader(open(val_csv))) if val_csv.exists() else []
    fig, axes = plt.subplots(1, len(keys), figsize=(3.2 * len(keys), 3))
    for ax, k in zip(np.atleast_1d(axes), keys):
        ax.plot(steps, [float(r[k]) for r in rows], label="train")
        if val and k in val[0]:
            ax.plot([int(r["step"]) for r in val], [float(r[k]) for r in val], label="val")
            ax.legend()
        ax.set_title(k)
        ax.set_xlabel("step")
    fig.tight_layout()
    fig.savefig(png, dpi=90)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    import argparse
    ap = argparse.ArgumentParser(prog="facestream train", description=__doc__.split("\n")[0])
    ap.add_argument("--config", help="a JSON file of TrainConfig fields (nested: model, loss)")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="override a field, e.g. --set steps=100 --set model.lookahead=2")
    args = ap.parse_args(argv)
    cfg = load_config(args.config, args.set)
    path = train(cfg)
    if _ddp_info()[0] == 0:
        print(f"checkpoint: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

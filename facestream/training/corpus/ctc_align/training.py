"""Training the phone model: per-frame cross-entropy on synthetic speech with exact timing
plus pocketsphinx-aligned real English (see the package docstring for why not CTC).

    python -m facestream.training.corpus.ctc_align train        # ~15 min on 2 CPU cores
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ...phonemes import INVENTORY, PHONE_INDEX
from .data import (EXTRA_TRAIN_VOICES, HELDOUT_VOICES, TRAIN_VOICES, _batch, _labelled,
                   english_split, synth_set)
from .model import DEFAULT_WEIGHTS, AlignerConfig, PhoneModel, _build_model, _torch


@dataclass(frozen=True)
class TrainConfig:
    per_voice: int = 120  # synthetic utterances per training voice
    steps: int = 1500
    batch: int = 12
    crop_frames: int = 300  # 3 s training crops
    lr: float = 3e-3
    weight_decay: float = 1e-4
    augment_copies: int = 1  # augmented versions of each utterance (plus the clean one)
    extra_per_voice: int = 80  # utterances per EXTRA_TRAIN_VOICES voice
    real_english: bool = True  # add the TRAIN half of the English Asterisk prompts, with
    #   pocketsphinx's alignment as labels (see `english_split`)
    real_copies: int = 3  # augmented versions of each real prompt (plus the clean one)
    threads: int = 1  # torch threads (2 oversubscribe a shared 2-core machine badly)
    workers: int = 2  # synthesis processes
    seed: int = 0


def train_aligner(out: str | Path | None = DEFAULT_WEIGHTS, cfg: AlignerConfig | None = None,
                  tc: TrainConfig | None = None, voices: dict | None = None,
                  cache: str | Path | None = None, log=print) -> PhoneModel:
    """Synthesise the training set, train the phone model, save it to `out`; returns it.

    cache: a pickle of the synthesised utterances, written on first use and read after
    (synthesis is ~2 minutes). Deterministic given tc.seed (and the installed espeak-ng,
    MBROLA and thread count)."""
    torch = _torch()
    cfg, tc = cfg or AlignerConfig(), tc or TrainConfig()
    torch.manual_seed(tc.seed)
    torch.set_num_threads(tc.threads)
    rng = np.random.default_rng(tc.seed)
    t0 = time.perf_counter()
    voices = voices or TRAIN_VOICES
    import pickle
    if cache is not None and Path(cache).exists():
        with open(cache, "rb") as f:
            utts, real = pickle.load(f)
    else:
        utts = synth_set(voices, tc.per_voice, tc.seed, workers=tc.workers)
        if tc.extra_per_voice:
            utts += synth_set(EXTRA_TRAIN_VOICES, tc.extra_per_voice, tc.seed, workers=tc.workers)
        real = english_split("train") if tc.real_english else []
        if cache is not None:
            with open(cache, "wb") as f:
                pickle.dump((utts, real), f)
    data = _labelled(utts, True, tc.seed, tc.augment_copies)
    data += _labelled(real, True, tc.seed + 1, tc.real_copies)
    hours = sum(u.duration for u in utts) / 3600
    real_min = sum(u.duration for u in real) / 60
    log(f"{len(utts)} synthetic utterances ({hours:.2f} h) and {len(real)} real English "
        f"prompts ({real_min:.1f} min); {len(data)} items with augmentation "
        f"({time.perf_counter() - t0:.0f} s)")
    counts = np.bincount(np.concatenate([lab for _, lab in data]), minlength=len(INVENTORY))
    prior = (counts + 1.0) / (counts.sum() + len(INVENTORY))
    col = np.array([PHONE_INDEX[p] for p in cfg.phones])
    net = _build_model(cfg)
    opt = torch.optim.AdamW(net.parameters(), lr=tc.lr, weight_decay=tc.weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, tc.lr, total_steps=tc.steps, pct_start=0.1)
    to_out = torch.from_numpy(np.argsort(col))  # inventory index -> output column
    net.train()
    t1, run_loss, run_acc = time.perf_counter(), 0.0, 0.0
    for step in range(1, tc.steps + 1):
        x, y = _batch(data, rng.integers(0, len(data), tc.batch), tc.crop_frames, rng)
        y = to_out[y] if not np.array_equal(col, np.arange(len(col))) else y
        logits = net(x)
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 5.0)
        opt.step()
        sched.step()
        run_loss += loss.item()
        run_acc += (logits.argmax(-1) == y).float().mean().item()
        if step % 100 == 0 or step == tc.steps:
            n = 100 if step % 100 == 0 else step % 100
            log(f"step {step}/{tc.steps} loss {run_loss / n:.3f} frame acc {run_acc / n:.3f} "
                f"({time.perf_counter() - t1:.0f} s)")
            run_loss = run_acc = 0.0
    model = PhoneModel(net.eval(), cfg, np.log(prior[col]))
    meta = {"train": asdict(tc), "train_voices": voices, "heldout_voices": HELDOUT_VOICES,
            "extra_voices": EXTRA_TRAIN_VOICES if tc.extra_per_voice else {},
            "train_utterances": len(utts), "train_hours": round(hours, 3),
            "real_english_prompts": [u.uid for u in real],
            "train_seconds": round(time.perf_counter() - t0, 1)}
    model.meta = meta
    if out is not None:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        model.save(out, meta)
        log(f"saved {out} ({Path(out).stat().st_size / 1e6:.2f} MB)")
    return model


"""Speed of the training-time augmentation chain (facestream/training/corpus/augment.py), in
multiples of real time: it runs on every training window, so it must stay far ahead of the
optimiser step (the chain measured ~1000x real time on the project's 2-core machine).

    .venv/bin/python benchmarks/augment.py                  # 4 s windows, median of 5 runs

Moved here from the test suite: speed is a benchmark figure, not a pass/fail test on a shared
machine. The input is voiced-like bursts (harmonics under a 3 Hz syllable envelope) with noise
and babble pools of the same kind.
"""
import argparse
import time

import numpy as np

from facestream import vocab
from facestream.training.corpus.augment import AugmentConfig, Augmenter


def speechlike(seconds: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * vocab.SAMPLE_RATE)) / vocab.SAMPLE_RATE
    phase = 2 * np.pi * np.cumsum(120 + 20 * np.sin(2 * np.pi * 0.7 * t)) / vocab.SAMPLE_RATE
    x = sum(np.sin(k * phase) / k for k in range(1, 20))
    env = np.clip(np.sin(2 * np.pi * 3 * t), 0, None) ** 2
    return (0.2 * x * env + 0.001 * rng.standard_normal(len(t))).astype(np.float32)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--window-s", type=float, default=4.0)
    ap.add_argument("--windows", type=int, default=20)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    pool = [speechlike(1.0, seed=s) for s in range(3)]
    aug = Augmenter(AugmentConfig(), noise_pool=pool, babble_pool=pool)
    x = speechlike(args.window_s)
    aug(x, 0)
    speeds = []
    for r in range(args.repeats):
        t0 = time.perf_counter()
        for i in range(args.windows):
            aug(x, r * args.windows + i)
        speeds.append(args.windows * args.window_s / (time.perf_counter() - t0))
    print(f"augmentation: {np.median(speeds):.0f}x real time (median of {args.repeats}; "
          f"min {min(speeds):.0f}x, max {max(speeds):.0f}x), {args.window_s:g} s windows")


if __name__ == "__main__":
    main()

"""The corpus targets are pinned bit for bit: moving emotion fusion and the blink model from
training/corpus/expressive.py into the engine (issue 14) must not change one number of a
corpus a model is being trained on. The digests were taken from the code before the move
(commit ad87d4d); a change here means every corpus built since then is stale."""
import functools
import hashlib

import numpy as np
import pytest

from facestream import vocab
from facestream.training.corpus import expressive
from facestream.training.corpus.types import Utterance

from phone_helpers import seq  # noqa: E402

SPEECH = seq(("sil", 200), ("aa", 150), ("b", 70), ("uw", 150), ("m", 60), ("iy", 120),
             ("p", 80), ("ae", 150), ("f", 80), ("ow", 140), ("m", 45), ("ay", 200),
             ("sil", 250))


def digest(*arrays) -> str:
    h = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(str((a.dtype.str, a.shape)).encode())
        h.update(a.tobytes())
    return h.hexdigest()[:24]


def utterance() -> Utterance:
    rng = np.random.default_rng(7)
    n = int(SPEECH[-1].end * vocab.SAMPLE_RATE)
    t = np.arange(n) / vocab.SAMPLE_RATE
    x = np.sin(2 * np.pi * 130 * t) * (0.2 + 0.2 * np.sin(2 * np.pi * 4 * t) ** 2)
    x = (x + 1e-3 * rng.normal(size=n)).astype(np.float32)
    return Utterance("pin/0", x, SPEECH, "test", "test", "en", "pin")


@functools.cache
def outputs() -> dict[str, str]:
    out = {}
    u = utterance()
    for seed in (0, 1, 2):
        t = expressive.make_targets(u, np.random.default_rng(seed))
        out[f"make_targets/{seed}"] = digest(t.arkit, t.jaw, t.neck, t.emotion, t.intensity,
                                             t.phone_ids)
    t = expressive.make_targets(u, np.random.default_rng(3), emotion="happy")
    out["make_targets/happy"] = digest(t.arkit, t.jaw, t.neck, t.emotion, t.intensity)
    rng = np.random.default_rng(11)
    arkit = rng.uniform(0, 0.6, (90, vocab.NUM_ARKIT)).astype(np.float32)
    closure = (rng.uniform(size=90) > 0.8).astype(np.float32)
    lab = (rng.uniform(size=90) > 0.9).astype(np.float32)
    for name, emo in (("happy", "happy"), ("angry", "angry"),
                      ("sad+surprised", {"sad": 0.6, "surprised": 0.4})):
        a, j = expressive.apply_emotion(arkit, arkit[:, vocab.ARKIT_INDEX["jawOpen"]], emo, 0.8,
                                        closure=closure, labiodental=lab)
        out[f"apply_emotion/{name}"] = digest(a, j)
    a, j = expressive.apply_emotion(arkit, arkit[:, 24], "disgusted", np.linspace(0, 1, 90))
    out["apply_emotion/free"] = digest(a, j)
    for seed in (0, 5):
        b = expressive.blink_track(6000, np.random.default_rng(seed))
        out[f"blink_track/{seed}"] = digest(b)
    b = expressive.blink_track(3000, np.random.default_rng(9), fps=30, rate_per_min=40.0)
    out["blink_track/30fps"] = digest(b)
    out["add_blinks"] = digest(expressive.add_blinks(arkit, b[:90]))
    return out


PINNED = {
    "make_targets/0": "f91352f3625710f55e38dc35",
    "make_targets/1": "206cf388be6b57a8b20d9d6d",
    "make_targets/2": "dff465ffcb18c11d95b8bf02",
    "make_targets/happy": "fc280fbecc329ea9fa4c41f9",
    "apply_emotion/happy": "54fa41b22d3641db01ea407d",
    "apply_emotion/angry": "844ba43f1a732b3cb6938fa8",
    "apply_emotion/sad+surprised": "840e6e2779ab6e9c01766dee",
    "apply_emotion/free": "0ee78c74a127aae58b098b96",
    "blink_track/0": "192dbfef54c65022a8c30cbc",
    "blink_track/5": "347f13d226f3159da5900e69",
    "blink_track/30fps": "2b8dc9b4fa41ba175e5dc4c2",
    "add_blinks": "87391e225ae5d117e751f71d",
}


@pytest.mark.parametrize("key", sorted(PINNED))
def test_targets_bit_identical(key):
    assert outputs()[key] == PINNED[key], (
        f"{key} changed: the corpus targets must stay bit-identical (see the module docstring)")

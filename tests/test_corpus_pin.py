"""The corpus targets are pinned: moving emotion fusion and the blink model from
training/corpus/expressive.py into the engine (issue 14) must not change one number of a
corpus a model is being trained on. The fingerprints were taken from code bit-identical to
the code before the move (commit ad87d4d: its sha256 digests matched); a change here means
every corpus built since then is stale. Deliberate changes of the targets re-pin the entries
they move, in the same commit, and say so here: the labiodental lip lift
(`rig.LABIODENTAL_UPPER`, 2026-12-03) moved make_targets/0, /2, /happy and apply_emotion's
three entries with a labiodental track. Fingerprints (sum, sum of squares and a fixed random
projection of every array) are compared to 1e-6 relative, not hashed, so a different BLAS or
CPU that rounds the last bit differently does not fail the test while any real change does."""
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


def digest(*arrays) -> list[float]:
    out = []
    for a in arrays:
        a = np.asarray(a, np.float64).ravel()
        w = np.random.default_rng(a.size).uniform(-1, 1, a.size)
        out += [float(a.size), float(a.sum()), float((a * a).sum()), float((a * w).sum())]
    return out


def utterance() -> Utterance:
    rng = np.random.default_rng(7)
    n = int(SPEECH[-1].end * vocab.SAMPLE_RATE)
    t = np.arange(n) / vocab.SAMPLE_RATE
    x = np.sin(2 * np.pi * 130 * t) * (0.2 + 0.2 * np.sin(2 * np.pi * 4 * t) ** 2)
    x = (x + 1e-3 * rng.normal(size=n)).astype(np.float32)
    return Utterance("pin/0", x, SPEECH, "test", "test", "en", "pin")


@functools.cache
def outputs() -> dict[str, list[float]]:
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
    "add_blinks": [4680.0, 1398.905149064, 561.1965514176, 9.3486212864],
    "apply_emotion/angry": [4680.0, 1651.5662870455, 839.023420936, 6.6462557194, 90.0, 25.1915010102, 10.6939206684, -1.4860846215],
    "apply_emotion/free": [4680.0, 1634.4760792875, 776.1111820912, 2.7045812587, 90.0, 26.1362324953, 10.119313349, -1.8548966309],
    "apply_emotion/happy": [4680.0, 1664.9239371581, 862.3531578746, 12.1879413867, 90.0, 22.9504485466, 8.7109738581, -1.3962529788],
    "apply_emotion/sad+surprised": [4680.0, 1633.7770641122, 806.6732743187, 5.7765958572, 90.0, 25.7044260353, 9.6076612831, -1.445184098],
    "blink_track/0": [12000.0, 250.6833392302, 184.6450339804, 5.1496369072],
    "blink_track/30fps": [6000.0, 240.685868143, 174.2903661736, -9.2282954715],
    "blink_track/5": [12000.0, 236.1434010542, 174.2650862614, -0.1771754559],
    "make_targets/0": [8840.0, 449.982476371, 141.1202576343, 8.3203859264, 510.0, 7.4481238197, 0.3998589976, 0.0338083938, 510.0, 2.4974368286, 0.1699879014, -0.0688165992, 1190.0, 170.0000019337, 126.4262578338, -3.6711338566, 170.0, 108.5347703695, 71.7728965306, 0.7076800034, 170.0, 1900.0, 37980.0, 98.1391901854],
    "make_targets/1": [8840.0, 584.9770359225, 228.5407871232, 14.9484089986, 510.0, 7.3220420715, 0.5619465084, -0.1224864154, 510.0, -0.186857912, 0.1501708961, -0.6289452538, 1190.0, 169.9999999441, 163.0035436601, -5.8975088157, 170.0, 138.7186619639, 115.5710339782, 1.8794099218, 170.0, 1900.0, 37980.0, 98.1391901854],
    "make_targets/2": [8840.0, 802.8862331941, 387.4467242832, 8.0689454211, 510.0, 11.0205845349, 0.8145337262, 0.0795580301, 510.0, -0.1941606025, 0.1002636771, 0.3031493239, 1190.0, 170.0, 170.0, 15.3341016873, 170.0, 128.8359779119, 97.639465909, 1.7512194659, 170.0, 1900.0, 37980.0, 98.1391901854],
    "make_targets/happy": [8840.0, 906.0182686853, 498.5671756492, 8.297362475, 510.0, 8.6942645559, 0.8705310759, -0.1999359441, 510.0, 6.3773898791, 0.1416241865, -0.1056603724, 1190.0, 170.0, 170.0, -8.1742014062, 170.0, 162.4951291084, 155.3215704939, 2.2087357726],
}


@pytest.mark.parametrize("key", sorted(PINNED))
def test_targets_bit_identical(key):
    assert np.allclose(outputs()[key], PINNED[key], rtol=1e-6, atol=1e-9), (
        f"{key} changed: the corpus targets must stay bit-identical (see the module docstring)")

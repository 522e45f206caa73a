"""Audio augmentation at training time: the clean synthetic speech made to sound recorded.

numpy/scipy only, no torch: it runs in DataLoader workers on one utterance at a time, many
hundred times faster than real time. Shapes: S samples at vocab.SAMPLE_RATE.

Timing is the contract. Every effect keeps the length and the alignment of the audio, so
the per-frame targets stay valid untouched:
  * filters (microphone EQ, telephone band) run forward and backward (`sosfiltfilt`), so
    they have zero phase; each biquad gets half its gain per pass so the magnitude is the
    one drawn;
  * `resample_poly` uses a centred (linear-phase) FIR, so a round trip through another
    rate moves nothing;
  * reverberation is causal with the direct path at lag 0: onsets stay where they were and
    only a tail is added after them, as in a real room.
The one exception is the optional silence padding, which adds whole frames (multiples of
vocab.HOP_SAMPLES) at the front and back and says how many, so the caller pads the targets
by exactly that many frames (`pad_targets`).

Reverberation uses a statistical room model, not image sources: the impulse response is a
unit direct path at lag 0 followed, after a short pre-delay, by Gaussian noise under an
exponential envelope that falls 60 dB in RT60 (low-passed, since walls absorb highs), scaled
to a drawn direct-to-reverberant ratio. That is the late-reverberation model of Polack and
what most speech augmentation uses; image sources would add exact early reflections for a
given box room, at the cost of room geometry and more compute, and the face model does not
need them.

The chain, in the order sound meets it: padding -> room -> additive noise -> microphone EQ ->
channel (telephone band or narrowband through 8 kHz) -> resampling artefacts -> gain ->
clipping/saturation -> quantisation. Each step is drawn independently with its probability.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass, fields, replace
from typing import NamedTuple, Sequence

import numpy as np
from scipy import fft as sfft
from scipy import signal

from ... import vocab
from ..phonemes import PHONE_INDEX, SILENCE
from .types import Targets

NOISE_KINDS: tuple[str, ...] = ("white", "pink", "brown", "babble", "recorded")
_NOISE_EXPONENT = {"white": 0.0, "pink": 1.0, "brown": 2.0}  # power spectrum ~ 1 / f^a
_ACTIVE_FLOOR_DB = -50.0  # frames this far below the loudest one are silence for the SNR


@dataclass(frozen=True)
class AugmentConfig:
    """Probabilities (p_*) and ranges (lo, hi) of every effect; ranges are drawn uniformly."""

    # silence padding: whole frames added at the front and back (targets must be padded)
    p_pad: float = 0.0  # off by default: the caller must pad targets when it is on
    pad_frames: tuple[int, int] = (0, 50)  # frames (10 ms) of silence at each end
    # room
    p_reverb: float = 0.3
    rt60_s: tuple[float, float] = (0.15, 0.9)  # seconds for the tail to fall 60 dB
    drr_db: tuple[float, float] = (0.0, 15.0)  # direct-to-reverberant energy ratio
    predelay_s: tuple[float, float] = (0.002, 0.015)  # direct path to the first reflection
    tail_damping: tuple[float, float] = (0.0, 0.7)  # one-pole low-pass coefficient of the tail
    # additive noise
    p_noise: float = 0.5
    snr_db: tuple[float, float] = (0.0, 30.0)  # speech (active frames) to noise power
    noise_weights: tuple[float, ...] = (1.0, 1.0, 1.0, 1.0, 2.0)  # per NOISE_KINDS; kinds
    #   whose pool was not given drop out and the rest are renormalised
    babble_talkers: tuple[int, int] = (3, 8)  # voices summed into babble
    # microphone colouration
    p_eq: float = 0.3
    eq_bands: tuple[int, int] = (1, 3)  # random biquads in series
    eq_gain_db: tuple[float, float] = (-9.0, 9.0)  # boost/cut of each biquad
    eq_q: tuple[float, float] = (0.5, 4.0)  # peaking filters' quality factor
    # channel: telephone (300-3400 Hz through 8 kHz), else plain narrowband through 8 kHz
    p_telephone: float = 0.05
    telephone_band_hz: tuple[float, float] = (300.0, 3400.0)
    p_narrowband: float = 0.05
    # the GSM 06.10 full-rate codec at 8 kHz (sox), as Asterisk's .gsm prompts and much of
    # telephony carry speech; drawn before the two above (0: off, the corpus' default)
    p_gsm: float = 0.0
    # resampling artefacts: down to a rate and back with a drawn anti-alias window
    p_resample: float = 0.1
    resample_rates: tuple[int, ...] = (8000, 11025, 12000, 22050, 24000)
    resample_kaiser_beta: tuple[float, float] = (2.0, 8.0)  # low beta = more aliasing
    # level
    p_gain: float = 0.8
    gain_db: tuple[float, float] = (-18.0, 6.0)
    # clipping / saturation
    p_clip: float = 0.05
    clip_level: tuple[float, float] = (0.3, 0.9)  # hard clip, as a fraction of the peak
    soft_drive: tuple[float, float] = (1.0, 6.0)  # tanh saturation drive
    p_soft_clip: float = 0.5  # share of clipping that is soft saturation
    # quantisation
    p_quantize: float = 0.05
    quantize_bits: tuple[int, int] = (6, 12)  # linear PCM bits (drawn inclusive)
    p_mulaw: float = 0.3  # share of quantisation that is 8-bit mu-law (telephony)

    def __post_init__(self) -> None:
        nyq = vocab.SAMPLE_RATE / 2
        for f in fields(self):
            v = getattr(self, f.name)
            if f.name.startswith("p_") and not 0.0 <= v <= 1.0:
                raise ValueError(f"AugmentConfig.{f.name}={v}: a probability must be in [0, 1]")
            if f.name in _RANGES and (len(v) != 2 or v[0] > v[1]):
                raise ValueError(f"AugmentConfig.{f.name}={v}: give a range (lo, hi) with lo <= hi")
        lo, hi = self.telephone_band_hz
        if not 0 < lo < hi < min(nyq, 4000.0):
            raise ValueError(f"AugmentConfig.telephone_band_hz={self.telephone_band_hz}: need "
                             "0 < low < high < 4000 Hz (the band must fit through 8 kHz)")
        if len(self.noise_weights) != len(NOISE_KINDS) or min(self.noise_weights) < 0:
            raise ValueError(f"AugmentConfig.noise_weights: give {len(NOISE_KINDS)} weights >= 0, "
                             f"one per kind in {NOISE_KINDS}")
        if any(int(r) <= 0 or int(r) != r for r in self.resample_rates) or not self.resample_rates:
            raise ValueError("AugmentConfig.resample_rates: give positive integer rates in Hz")
        if self.pad_frames[0] < 0 or self.babble_talkers[0] < 1 or self.eq_bands[0] < 0:
            raise ValueError("AugmentConfig: pad_frames >= 0, babble_talkers >= 1, eq_bands >= 0")
        if not 1 <= self.quantize_bits[0] <= 16 or self.quantize_bits[1] > 16:
            raise ValueError("AugmentConfig.quantize_bits must lie in 1..16")
        if not (0 <= self.tail_damping[0] and self.tail_damping[1] < 1):
            raise ValueError("AugmentConfig.tail_damping must lie in [0, 1)")
        if self.rt60_s[0] <= 0 or self.clip_level[0] <= 0 or self.soft_drive[0] <= 0:
            raise ValueError("AugmentConfig: rt60_s, clip_level and soft_drive must be > 0")

    @classmethod
    def none(cls, **overrides) -> "AugmentConfig":
        """Every effect off (all probabilities 0), then `overrides` applied."""
        off = {f.name: 0.0 for f in fields(cls) if f.name.startswith("p_")}
        return replace(cls(), **{**off, **overrides})


_RANGES = frozenset(f for f in AugmentConfig.__dataclass_fields__
                    if not f.startswith("p_") and f not in
                    ("noise_weights", "resample_rates"))


class Augmented(NamedTuple):
    """What `Augmenter` returns: audio S' float32 and the silence added at each end.

    S' = S + pad_front + pad_back; pads are multiples of vocab.HOP_SAMPLES, so input frame t
    is output frame t + pad_front_frames exactly."""

    audio: np.ndarray
    pad_front: int  # samples
    pad_back: int  # samples

    @property
    def pad_front_frames(self) -> int:
        return self.pad_front // vocab.HOP_SAMPLES

    @property
    def pad_back_frames(self) -> int:
        return self.pad_back // vocab.HOP_SAMPLES


class Augmenter:
    """Draws and applies a random effect chain; holds no per-call state (thread/worker safe).

    noise_pool: recorded noises, each S float32 at vocab.SAMPLE_RATE (looped when short);
    babble_pool: speech of *other* voices than the one augmented, each S float32, summed
    a few at a time into babble. Either may be None: that noise kind is then never drawn.
    """

    def __init__(self, config: AugmentConfig | None = None,
                 noise_pool: Sequence[np.ndarray] | None = None,
                 babble_pool: Sequence[np.ndarray] | None = None) -> None:
        self.config = config or AugmentConfig()
        self.noise_pool = _check_pool(noise_pool, "noise_pool")
        self.babble_pool = _check_pool(babble_pool, "babble_pool")
        w = np.array(self.config.noise_weights, dtype=np.float64)
        w[NOISE_KINDS.index("babble")] *= bool(self.babble_pool)
        w[NOISE_KINDS.index("recorded")] *= bool(self.noise_pool)
        self._noise_p = w / w.sum() if w.sum() > 0 else None

    def __call__(self, audio: np.ndarray, rng: np.random.Generator | int) -> Augmented:
        """audio S float32 mono at vocab.SAMPLE_RATE -> Augmented(audio S', pad_front, pad_back)."""
        x = np.asarray(audio)
        if x.ndim != 1 or x.dtype.kind != "f":
            raise ValueError(f"augment expects mono float audio (S,) at {vocab.SAMPLE_RATE} Hz, "
                             f"got {x.dtype} of shape {x.shape}: convert int16 with formats.pcm16_to_float, "
                             "average the channels")
        rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
        c = self.config
        x = x.astype(np.float32)  # float32 throughout: half the memory traffic of float64
        pad_front = pad_back = 0
        if _draw(rng, c.p_pad):
            lo, hi = c.pad_frames
            pad_front, pad_back = (rng.integers(lo, hi + 1, size=2) * vocab.HOP_SAMPLES).tolist()
            x = np.pad(x, (pad_front, pad_back))
        if len(x) == 0:
            return Augmented(x.astype(np.float32), pad_front, pad_back)
        if _draw(rng, c.p_reverb):
            x = reverberate(x, make_rir(rng, c))
        if self._noise_p is not None and _draw(rng, c.p_noise):
            kind = NOISE_KINDS[rng.choice(len(NOISE_KINDS), p=self._noise_p)]
            x = add_noise(x, self._noise(kind, len(x), rng), rng.uniform(*c.snr_db))
        if _draw(rng, c.p_eq):
            x = zero_phase(x, random_eq(rng, c))
        if c.p_gsm and _draw(rng, c.p_gsm):
            x = gsm_round_trip(x)
        elif _draw(rng, c.p_telephone):
            x = through_8k(zero_phase(x, telephone_sos(c.telephone_band_hz)))
        elif _draw(rng, c.p_narrowband):
            x = through_8k(x)
        if _draw(rng, c.p_resample):
            rate = int(c.resample_rates[rng.integers(len(c.resample_rates))])
            x = resample_round_trip(x, rate, rng.uniform(*c.resample_kaiser_beta))
        if _draw(rng, c.p_gain):
            x = x * np.float32(10.0 ** (rng.uniform(*c.gain_db) / 20.0))
        if _draw(rng, c.p_clip):
            if _draw(rng, c.p_soft_clip):
                x = soft_clip(x, rng.uniform(*c.soft_drive))
            else:
                x = hard_clip(x, rng.uniform(*c.clip_level))
        if _draw(rng, c.p_quantize):
            if _draw(rng, c.p_mulaw):
                x = mulaw_quantize(x)
            else:
                x = quantize(x, int(rng.integers(c.quantize_bits[0], c.quantize_bits[1] + 1)))
        peak = np.abs(x).max()
        if peak > 1.0:  # the ADC's range: deliberate distortion is the clipping step's job
            x = x / peak
        return Augmented(x.astype(np.float32, copy=False), pad_front, pad_back)

    def _noise(self, kind: str, n: int, rng: np.random.Generator) -> np.ndarray:
        if kind in _NOISE_EXPONENT:
            return coloured_noise(n, _NOISE_EXPONENT[kind], rng)
        if kind == "recorded":
            return _loop_excerpt(self.noise_pool[rng.integers(len(self.noise_pool))], n, rng)
        lo, hi = self.config.babble_talkers
        k = int(rng.integers(lo, hi + 1))
        out = np.zeros(n, dtype=np.float32)
        for i in rng.integers(len(self.babble_pool), size=k):
            v = _loop_excerpt(self.babble_pool[i], n, rng)
            out += v / max(np.sqrt(np.mean(v * v)), 1e-9)
        return out


# ---- the effects, as pure functions (x: S float32 in, S float32 out) ------------------------

def coloured_noise(n: int, exponent: float, rng: np.random.Generator) -> np.ndarray:
    """n samples of noise with power spectrum ~ 1/f^exponent (0 white, 1 pink, 2 brown),
    shaped in the frequency domain; below 20 Hz the spectrum is flat (no DC drift)."""
    m = sfft.next_fast_len(max(n, 2), real=True)
    w = rng.standard_normal(m, dtype=np.float32)
    if exponent == 0:
        return w[:n]
    spec = sfft.rfft(w)
    f = np.fft.rfftfreq(m, 1.0 / vocab.SAMPLE_RATE).astype(np.float32)
    spec *= np.maximum(f, np.float32(20.0)) ** np.float32(-exponent / 2.0)
    spec[0] = 0.0
    return sfft.irfft(spec, n=m)[:n]


def active_power(x: np.ndarray) -> float:
    """Mean power of the frames (10 ms) within 50 dB of the loudest: speech level that
    pauses and padding do not dilute (the idea of ITU-T P.56, simplified)."""
    hop = vocab.HOP_SAMPLES
    if len(x) < hop:
        return float(np.mean(x * x)) if len(x) else 0.0
    n = len(x) // hop
    p = np.mean(np.square(x[: n * hop], dtype=np.float64).reshape(n, hop), axis=1)
    if p.max() <= 0:
        return 0.0
    return float(p[p >= p.max() * 10 ** (_ACTIVE_FLOOR_DB / 10)].mean())


def add_noise(x: np.ndarray, noise: np.ndarray, snr_db: float) -> np.ndarray:
    """x + noise scaled so active_power(x) / mean(noise^2) is snr_db; digital silence is
    given noise as if it were speech at -26 dBFS."""
    ps = active_power(x) or 10 ** (-26 / 10)
    pn = float(np.mean(np.square(noise, dtype=np.float64))) or 1.0
    return x + noise * np.float32(np.sqrt(ps / (pn * 10 ** (snr_db / 10))))


def make_rir(rng: np.random.Generator, c: AugmentConfig) -> np.ndarray:
    """A synthetic room impulse response L float64: 1 at lag 0 (the direct path), then an
    exponentially decaying, low-passed noise tail at the drawn direct-to-reverberant ratio."""
    sr = vocab.SAMPLE_RATE
    rt60 = rng.uniform(*c.rt60_s)
    n = int(min(rt60, 1.0) * sr) + 1  # the tail is 60 dB down by then
    pre = max(1, int(rng.uniform(*c.predelay_s) * sr))
    t = np.arange(n) / sr
    tail = rng.standard_normal(n) * np.exp(-np.log(1000.0) * t / rt60)
    a = rng.uniform(*c.tail_damping)
    if a > 0:
        tail = signal.lfilter([1.0 - a], [1.0, -a], tail)
    tail[:pre] = 0.0
    energy = float(np.sum(tail * tail)) or 1.0
    tail *= np.sqrt(10 ** (-rng.uniform(*c.drr_db) / 10) / energy)
    tail[0] = 1.0
    return tail.astype(np.float32)


def reverberate(x: np.ndarray, rir: np.ndarray) -> np.ndarray:
    """Causal convolution cut to the input length: rir[0] lands on lag 0, nothing moves."""
    return signal.fftconvolve(x, rir.astype(x.dtype, copy=False), mode="full")[: len(x)]


def _biquad(kind: str, f0: float, gain_db: float, q: float) -> np.ndarray:
    """RBJ audio-EQ-cookbook biquad as one sos row (6,): 'peak', 'lowshelf' or 'highshelf'."""
    a_ = 10 ** (gain_db / 40)
    w0 = 2 * np.pi * f0 / vocab.SAMPLE_RATE
    cw, sw = np.cos(w0), np.sin(w0)
    if kind == "peak":
        al = sw / (2 * q)
        b = [1 + al * a_, -2 * cw, 1 - al * a_]
        a = [1 + al / a_, -2 * cw, 1 - al / a_]
    else:  # shelf slope 1
        al = sw / 2 * np.sqrt(2.0)
        s = 2 * np.sqrt(a_) * al
        sign = 1 if kind == "lowshelf" else -1
        b = [a_ * ((a_ + 1) - sign * (a_ - 1) * cw + s),
             sign * 2 * a_ * ((a_ - 1) - sign * (a_ + 1) * cw),
             a_ * ((a_ + 1) - sign * (a_ - 1) * cw - s)]
        a = [(a_ + 1) + sign * (a_ - 1) * cw + s, -sign * 2 * ((a_ - 1) + sign * (a_ + 1) * cw),
             (a_ + 1) + sign * (a_ - 1) * cw - s]
    return np.array(b + a) / a[0]


def random_eq(rng: np.random.Generator, c: AugmentConfig) -> np.ndarray:
    """A microphone colouration: n x 6 sos of peaking/shelving biquads with *half* the drawn
    gains, for zero_phase (which runs them twice)."""
    rows = []
    for _ in range(int(rng.integers(c.eq_bands[0], c.eq_bands[1] + 1))):
        kind = ("peak", "lowshelf", "highshelf")[rng.integers(3)]
        lo, hi = {"peak": (100.0, 7000.0), "lowshelf": (80.0, 500.0),
                  "highshelf": (2000.0, 7000.0)}[kind]
        f0 = float(np.exp(rng.uniform(np.log(lo), np.log(hi))))
        rows.append(_biquad(kind, f0, rng.uniform(*c.eq_gain_db) / 2, rng.uniform(*c.eq_q)))
    return np.array(rows).reshape(-1, 6)


def telephone_sos(band_hz: tuple[float, float]) -> np.ndarray:
    """Band-pass sos (4th-order Butterworth prototype) for zero_phase."""
    return signal.butter(4, band_hz, btype="bandpass", fs=vocab.SAMPLE_RATE, output="sos")


def zero_phase(x: np.ndarray, sos: np.ndarray) -> np.ndarray:
    """Forward-backward filtering: magnitude |H|^2, no phase, so no delay."""
    if len(sos) == 0 or len(x) < 2:
        return x
    padlen = min(3 * (2 * len(sos) + 1), len(x) - 1)
    return signal.sosfiltfilt(sos, x, padlen=padlen).astype(x.dtype, copy=False)


def _fit(y: np.ndarray, n: int) -> np.ndarray:
    return y[:n] if len(y) >= n else np.pad(y, (0, n - len(y)))


def resample_round_trip(x: np.ndarray, rate: int, kaiser_beta: float = 5.0) -> np.ndarray:
    """Down (or up) to `rate` Hz and back with linear-phase polyphase filters; length kept."""
    g = np.gcd(int(rate), vocab.SAMPLE_RATE)
    up, down = int(rate) // g, vocab.SAMPLE_RATE // g
    h = _resample_filter(max(up, down), round(2 * float(kaiser_beta)) / 2)
    y = signal.resample_poly(x, up, down, window=h)
    return _fit(signal.resample_poly(y, down, up, window=h), len(x)).astype(x.dtype, copy=False)


@functools.lru_cache(maxsize=64)
def _resample_filter(max_rate: int, kaiser_beta: float) -> np.ndarray:
    # resample_poly's own design (cut-off at the lower Nyquist, 10 zero crossings a side),
    # cached: designing 10^4 taps costs more than filtering. Beta comes in steps of 0.5.
    h = signal.firwin(20 * max_rate + 1, 1.0 / max_rate, window=("kaiser", kaiser_beta))
    h.setflags(write=False)
    return h


def through_8k(x: np.ndarray) -> np.ndarray:
    """Narrowband: everything above 4 kHz removed by a round trip through 8 kHz."""
    return resample_round_trip(x, 8000, 8.0)


def gsm_round_trip(x: np.ndarray) -> np.ndarray:
    """16 kHz float -> GSM 06.10 at 8 kHz -> 16 kHz float, same length (sox, which
    `make data-deps` installs; its rate effect does both resamplings)."""
    import subprocess
    raw = ["-t", "f32", "-r", str(vocab.SAMPLE_RATE), "-c", "1"]
    gsm = ["-t", "gsm", "-r", "8000", "-c", "1"]
    try:
        coded = subprocess.run(["sox", "-V1", *raw, "-", *gsm, "-"], check=True, capture_output=True,
                               input=np.clip(x, -1.0, 1.0).astype(np.float32).tobytes()).stdout
        back = subprocess.run(["sox", "-V1", *gsm, "-", *raw, "-"], check=True, capture_output=True,
                              input=coded).stdout
    except FileNotFoundError:
        raise RuntimeError("GSM augmentation (p_gsm) needs sox: make data-deps") from None
    y = np.frombuffer(back, np.float32)[:len(x)]
    return np.pad(y, (0, len(x) - len(y))).astype(np.float32)


def hard_clip(x: np.ndarray, level: float) -> np.ndarray:
    """Clip at `level` times the peak."""
    t = level * np.abs(x).max()
    return np.clip(x, -t, t) if t > 0 else x


def soft_clip(x: np.ndarray, drive: float) -> np.ndarray:
    """tanh saturation; the peak keeps its level."""
    peak = np.abs(x).max()
    if peak == 0:
        return x
    return np.tanh(x * np.float32(drive / peak)) * np.float32(peak / np.tanh(drive))


def quantize(x: np.ndarray, bits: int) -> np.ndarray:
    """Linear PCM with `bits` bits over [-1, 1]."""
    step = np.float32(2.0 ** (1 - bits))
    return np.clip(np.round(x / step) * step, -1.0, 1.0)


def mulaw_quantize(x: np.ndarray, mu: float = 255.0) -> np.ndarray:
    """8-bit mu-law companding (G.711 style) and back."""
    x = np.clip(x, -1.0, 1.0)
    lm = np.float32(np.log1p(mu))
    y = np.sign(x) * np.log1p(np.float32(mu) * np.abs(x)) / lm
    y = np.round(y * np.float32(127.0)) / np.float32(127.0)
    return np.sign(y) * np.expm1(np.abs(y) * lm) / np.float32(mu)


# ---- targets -------------------------------------------------------------------------------

def pad_targets(targets: Targets, front_frames: int, back_frames: int) -> Targets:
    """Targets T x .. -> (front + T + back) x ..: the face holds its first and last pose
    (utterances start and end in silence, so that is the rest pose) and the padded frames'
    phone is silence. Matches Augmented.pad_front_frames / pad_back_frames."""
    if front_frames < 0 or back_frames < 0:
        raise ValueError("pad_targets: frame counts must be >= 0")

    def edge(a: np.ndarray) -> np.ndarray:
        if len(a) == 0:
            raise ValueError("pad_targets: cannot pad empty targets (no edge pose to hold)")
        return np.pad(a, [(front_frames, back_frames)] + [(0, 0)] * (a.ndim - 1), mode="edge")

    sil = PHONE_INDEX[SILENCE]
    return Targets(
        arkit=edge(targets.arkit), jaw=edge(targets.jaw), neck=edge(targets.neck),
        emotion=edge(targets.emotion), intensity=edge(targets.intensity),
        phone_ids=np.pad(targets.phone_ids, (front_frames, back_frames), constant_values=sil),
    )


# ---- helpers -------------------------------------------------------------------------------

def _draw(rng: np.random.Generator, p: float) -> bool:
    # No draw for p == 0 or 1 keeps the stream of a config with an effect off identical to
    # one without it, and costs nothing.
    return p >= 1.0 or (p > 0.0 and rng.random() < p)


def _loop_excerpt(v: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """n samples of v from a random offset, wrapping around when v is shorter."""
    start = int(rng.integers(len(v)))
    return np.resize(np.roll(v, -start), n).astype(np.float32)


def _check_pool(pool, what: str) -> list[np.ndarray]:
    out = []
    for i, v in enumerate(pool or ()):
        v = np.asarray(v)
        if v.ndim != 1 or v.dtype.kind != "f" or len(v) == 0:
            raise ValueError(f"{what}[{i}] must be non-empty mono float audio (S,) at "
                             f"{vocab.SAMPLE_RATE} Hz, got {v.dtype} {v.shape}")
        out.append(v)
    return out

"""The articulation rig: timed phones -> per-frame ARKit weights and jaw rotation.

Speech is written as nine articulatory parameters (`PARAMS`: jaw opening, lower-lip
lowering, upper-lip raising, protrusion, funnelling, spreading, the labiodental tuck, lip
pressing, tongue) that each viseme sets, by place and manner (`CONSONANT_VISEMES`) or from
vowel height, backness and rounding (`vowel_viseme`). Each target carries a dominance, and
overlapping phones blend by Cohen & Massaro's (1993) dominance-weighted average, so
unspecified parameters take their value from the neighbours: lip rounding reaches back over
the consonants before a rounded vowel (anticipation) and lingers after it (carry-over).
Lip contacts are not blended but imposed (`contact_track`, `enforce_contacts`): at every
/p b m/ the lips meet on the mesh, and at every /f v/ the lower lip reaches the upper
teeth, whatever the neighbours or the emotion do. The visible articulation leads the
sound by `ArticulationStyle.lead`; `ArticulationStyle` also varies amplitude, jaw/lip
share, rounding, spreading, asymmetry, coarticulation and smoothing per speaker.

docs/rig.md holds the viseme table with its sources. Shapes: T frames, K = 52 ARKit
weights, P = 9 parameters, S phone segments.
"""
from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from ... import vocab
from .. import phonemes
from ..lip_contact import JAW_AT_CLOSURE, close_lips  # noqa: F401  (JAW_AT_CLOSURE: part of the rig's API)
from .types import PhoneSeg

PARAMS: tuple[str, ...] = (
    "jaw",     # jaw opening (jawOpen; the jaw joint follows through vocab.jaw_open_to_pose)
    "lower",   # lower lip lowered beyond what the jaw does (AU16)
    "upper",   # upper lip raised, teeth shown (AU10)
    "pucker",  # lips protruded and narrowed (AU18)
    "funnel",  # lips protruded and flared open (AU22)
    "spread",  # lips spread sideways (AU20, a little AU12)
    "tuck",    # lower lip drawn up under the upper incisors (labiodentals)
    "press",   # lips pressed together (AU24)
    "tongue",  # tongue tip shown between the teeth (dentals)
)
NUM_PARAMS = len(PARAMS)  # P
_P = {n: i for i, n in enumerate(PARAMS)}

# ARKit shapes each parameter drives, weight per unit of parameter.
PARAM_TO_ARKIT: dict[str, dict[str, float]] = {
    "jaw": {"jawOpen": 1.0},
    "lower": {"mouthLowerDownLeft": 1.0, "mouthLowerDownRight": 1.0},
    "upper": {"mouthUpperUpLeft": 1.0, "mouthUpperUpRight": 1.0},
    "pucker": {"mouthPucker": 1.0},
    "funnel": {"mouthFunnel": 1.0},
    "spread": {"mouthStretchLeft": 1.0, "mouthStretchRight": 1.0,
               "mouthSmileLeft": 0.3, "mouthSmileRight": 0.3},
    "tuck": {"mouthRollLower": 1.0, "mouthUpperUpLeft": 0.25, "mouthUpperUpRight": 0.25},
    "press": {"mouthPressLeft": 1.0, "mouthPressRight": 1.0},
    "tongue": {"tongueOut": 1.0},
}


def _param_matrix() -> np.ndarray:
    m = np.zeros((NUM_PARAMS, vocab.NUM_ARKIT), np.float32)
    for p, shapes in PARAM_TO_ARKIT.items():
        for name, w in shapes.items():
            m[_P[p], vocab.ARKIT_INDEX[name]] = w
    return m


PARAM_ARKIT: np.ndarray = _param_matrix()  # P x K
PARAM_ARKIT.setflags(write=False)

# Dominance levels (Cohen & Massaro's alpha): how strongly a phone holds a parameter.
UNSPEC, WEAK, SPEC, STRONG, CRIT = 0.1, 0.5, 1.0, 2.0, 4.0

# Dominance tails (seconds) of each parameter: (anticipatory, carry-over). A tail falls
# as exp(-(tau / reach) ** TAIL_SHAPE); TAIL_SHAPE 2 keeps a phone's hold near its own
# time and lets it fade fast beyond about two reaches. Rounding reaches furthest ahead
# (anticipatory rounding spans several consonants: Benguerel & Cowan 1974); lip contacts
# and the tongue are brief.
REACH: dict[str, tuple[float, float]] = {
    "jaw": (0.060, 0.070), "lower": (0.050, 0.060), "upper": (0.050, 0.060),
    "pucker": (0.120, 0.090), "funnel": (0.120, 0.090), "spread": (0.070, 0.070),
    "tuck": (0.040, 0.045), "press": (0.040, 0.040), "tongue": (0.040, 0.040),
}
TAIL_SHAPE = 2.0
_REACH = np.array([REACH[p] for p in PARAMS], np.float64)  # P x 2

# The viseme table of consonants: class -> (target, dominance) per parameter, in PARAMS
# order. See docs/rig.md for the reasoning and sources of each row.
_u = (0.0, UNSPEC)
CONSONANT_VISEMES: dict[str, tuple[tuple[float, float], ...]] = {
    #                   jaw          lower        upper        pucker       funnel
    #                   spread       tuck         press        tongue
    "bilabial_stop":   ((0.05, STRONG), (0.0, SPEC), (0.0, SPEC), _u, _u,
                        _u, (0.0, SPEC), (0.35, SPEC), (0.0, SPEC)),
    "bilabial_nasal":  ((0.05, STRONG), (0.0, SPEC), (0.0, SPEC), _u, _u,
                        _u, (0.0, SPEC), (0.15, SPEC), (0.0, SPEC)),
    # Spanish [β]: /b/'s lip target (at contact), no contact imposed; whether the lips meet
    # is left to the blend, as undershoot in a short segment (Parrell 2011; docs/rig.md).
    "bilabial_approximant": ((0.03, CRIT), (0.0, CRIT), (0.0, CRIT), _u, _u,
                             _u, (0.0, SPEC), (0.0, SPEC), (0.0, SPEC)),
    "labiodental":     ((0.05, STRONG), (0.0, SPEC), (0.0, WEAK), (0.0, WEAK), (0.0, WEAK),
                        _u, (0.75, CRIT), (0.0, SPEC), (0.0, SPEC)),
    "dental":          ((0.08, STRONG), (0.06, SPEC), (0.03, SPEC), _u, _u,
                        _u, (0.0, SPEC), (0.0, SPEC), (0.40, SPEC)),
    # Alveolars, velars, laterals and /r/ need the tongue against the palate, which the
    # jaw supports: the jaw is raised for them, not left to the neighbouring vowel
    # (Keating et al. 1994; Mooshammer, Hoole & Geumann 2007), and the lips narrow.
    "alveolar":        ((0.06, CRIT), (0.03, SPEC), (0.02, SPEC), _u, _u,
                        _u, (0.0, SPEC), (0.0, SPEC), (0.0, SPEC)),
    "sibilant":        ((0.03, CRIT), (0.05, SPEC), (0.08, WEAK), _u, _u,
                        (0.20, WEAK), (0.0, SPEC), (0.0, SPEC), (0.0, SPEC)),
    "lateral":         ((0.07, CRIT), (0.04, SPEC), (0.02, SPEC), _u, _u,
                        _u, (0.0, SPEC), (0.0, SPEC), (0.0, SPEC)),
    "rhotic":          ((0.05, CRIT), (0.0, SPEC), (0.0, SPEC), (0.30, SPEC), (0.10, SPEC),
                        (0.0, WEAK), (0.0, SPEC), (0.0, SPEC), (0.0, SPEC)),
    "postalveolar":    ((0.04, CRIT), (0.15, SPEC), (0.20, SPEC), (0.30, CRIT), (0.50, CRIT),
                        (0.0, SPEC), (0.0, SPEC), (0.0, SPEC), (0.0, SPEC)),
    "palatal":         ((0.05, CRIT), (0.03, SPEC), (0.02, SPEC), _u, _u,
                        (0.25, WEAK), (0.0, SPEC), (0.0, SPEC), (0.0, SPEC)),
    "velar":           ((0.08, CRIT), (0.03, SPEC), (0.01, SPEC), _u, _u,
                        _u, (0.0, SPEC), (0.0, SPEC), (0.0, SPEC)),
    "glottal":         ((0.20, UNSPEC), (0.05, UNSPEC), (0.0, UNSPEC), _u, _u,
                        _u, (0.0, WEAK), (0.0, WEAK), (0.0, WEAK)),
    "labiovelar":      ((0.03, CRIT), (0.0, CRIT), (0.0, CRIT), (0.90, CRIT), (0.05, CRIT),
                        (0.0, SPEC), (0.0, SPEC), (0.0, SPEC), (0.0, SPEC)),
    "silence":         ((0.0, SPEC),) * NUM_PARAMS,
}
del _u
# Fraction of a segment around its centre where its dominance is at full strength.
PLATEAU = {"silence": 0.8, "vowel": 0.6}
_PLATEAU_DEFAULT = 0.4
# A silence's dominance scales with its length: x1 at SILENCE_FULL_S, within these bounds.
SILENCE_FULL_S = 0.1
SILENCE_DOMINANCE = (0.5, 4.0)
# A diphthong holds its first vowel for this fraction, then glides to `glide_to`.
DIPHTHONG_SPLIT = 0.55
# Reduced vowels (phonemes.REDUCED_VOWELS) open this fraction of the open vowel /aa/'s
# jaw and lip opening, and yield their jaw to the context (docs/rig.md, "Reduced vowels").
REDUCED_OPENING = 0.25
# Prominence: a vowel's opening (jaw, lower, upper targets) is multiplied by
# PROMINENCE_GAIN[0] + (PROMINENCE_GAIN[1] - PROMINENCE_GAIN[0]) * p for its syllable's
# prominence p in [0, 1] (lexical stress and the utterance's loudness, duration and pitch
# accents; `syllable_prominence`). p = 0.5 when nothing is known leaves the gain at ~1.
PROMINENCE_GAIN = (0.6, 1.35)
LEXICAL_PROMINENCE = {1: 1.0, 2: 0.55, 0: 0.15}  # primary, secondary, unstressed
UNKNOWN_PROMINENCE = 0.5
# Rest posture: in a pause the lips of a speaker whose lips part at rest open by about
# REST_JAW of jawOpen and REST_LOWER of the lower-lip lowering, times style.rest_gap
# (about 2 mm on the default head at rest_gap 1).
REST_JAW = 0.03
REST_LOWER = 0.10

# Lip contacts (imposed, not blended): bilabial closure and the labiodental lip-to-teeth
# contact. A contact holds from `lead` before its phone's acoustic start to
# min(lead, RELEASE_FRACTION * duration) before its end, always over the centre
# +- CENTRE_HOLD, and is approached over RAMP_CLOSE and left over RAMP_OPEN.
RAMP_CLOSE = 0.030  # s
RAMP_OPEN = 0.040  # s
RELEASE_FRACTION = 0.3
CENTRE_HOLD = 0.012  # s
# How the closure is made: `training.lip_contact` (shared with the network's decoder).
# How the labiodental contact is made: the jaw within LABIODENTAL_JAW, mouthRollLower at
# least LABIODENTAL_TUCK, protrusion cut by LABIODENTAL_UNROUND (pucker pulls the lower lip
# off the teeth: +1.5 mm per 0.2), the lower lip not pulled down (metrics.lip_to_upper_teeth
# is 0.5-2 mm there, against 6 mm at rest), and mouthUpperUp at least LABIODENTAL_UPPER.
# With the lower lip at the incisors' edge the lips are as far apart as the upper incisors
# show below the upper lip: about 1.9 mm (men) and 3.4 mm (women) at rest (Vig & Brundo
# 1978, read from memory; Miron et al. 2012 confirm the 1.8 mm sex difference).
# The default head shows 0.8 mm; mouthUpperUp 0.4 raises the lip to 2.7 mm (docs/rig.md).
LABIODENTAL_JAW = (0.06, 0.10)
LABIODENTAL_TUCK = 0.9
LABIODENTAL_UNROUND = 0.9
LABIODENTAL_UPPER = 0.4
_ROUNDERS = [vocab.ARKIT_INDEX[n] for n in ("mouthPucker", "mouthFunnel")]
_LOWER_DOWN = [vocab.ARKIT_INDEX[n] for n in ("mouthLowerDownLeft", "mouthLowerDownRight")]
_UPPER_UP = [vocab.ARKIT_INDEX[n] for n in ("mouthUpperUpLeft", "mouthUpperUpRight")]


def viseme_class(p: phonemes.Phone) -> str:
    """The row of CONSONANT_VISEMES for a consonant or silence ("vowel" for vowels)."""
    if p.kind == "silence":
        return "silence"
    if p.kind == "vowel":
        return "vowel"
    place, manner = p.place, p.manner
    if place == "bilabial":
        return {"nasal": "bilabial_nasal", "approximant": "bilabial_approximant"}.get(
            manner, "bilabial_stop")
    if place == "alveolar":
        if manner in ("fricative", "affricate"):
            return "sibilant"
        if manner == "lateral":
            return "lateral"
        if manner == "approximant":
            return "rhotic"
        return "alveolar"
    if place in ("velar", "uvular"):
        return "velar"
    if place in ("labiodental", "dental", "postalveolar", "palatal", "glottal", "labiovelar"):
        return place
    raise ValueError(f"phone {p.symbol!r}: no viseme for place {place!r}, manner {manner!r}")


def vowel_viseme(height: float, backness: float, rounding: float) -> np.ndarray:
    """Targets and dominances (P x 2) of a vowel from its height (0 close..3 open), backness
    (0 front..2 back) and rounding (0..2).

    The jaw opens in proportion to height (Lindblom & Sundberg 1971); front unrounded
    vowels spread the lips, more the closer they are; rounded vowels protrude, close ones
    narrowly (pucker) and open ones with a wider opening (funnel) (Ladefoged & Johnson,
    A Course in Phonetics, ch. 9)."""
    closeness = 1.0 - height / 3.0
    r = rounding / 2.0
    out = np.zeros((NUM_PARAMS, 2), np.float32)
    out[:, 1] = SPEC  # vowels hold the labial-contact and tongue parameters at 0
    out[_P["jaw"]] = (0.05 + 0.11 * height, STRONG)  # the vowels carry the jaw cycle
    out[_P["lower"]] = (0.05 * height, WEAK)
    out[_P["upper"]] = (0.03 * height, WEAK)
    lips = STRONG if r > 0 else SPEC  # rounding is what a rounded vowel is about
    out[_P["pucker"]] = (r * (0.25 + 0.60 * closeness), lips)
    out[_P["funnel"]] = (r * (0.30 + 0.35 * (1.0 - closeness)), lips)
    spread = 0.0 if r > 0 else 0.35 * (1.0 - backness / 2.0) * (1.0 - height / 4.0)
    out[_P["spread"]] = (spread, WEAK)
    return out


_OPENING = [_P["jaw"], _P["lower"], _P["upper"]]


def viseme(symbol: str) -> np.ndarray:
    """Targets and dominances (P x 2) of one phone of the inventory."""
    p = phonemes.phone(symbol)
    if p.kind == "vowel":
        out = vowel_viseme(p.height, p.backness, p.rounding)
        if symbol in phonemes.REDUCED_VOWELS:
            # A schwa barely opens: a quarter of /aa/'s opening, and it takes its jaw from
            # the neighbouring consonants (weak dominance) rather than imposing one.
            aa = phonemes.phone("aa")
            full = vowel_viseme(aa.height, aa.backness, aa.rounding)
            out[_OPENING, 0] = REDUCED_OPENING * full[_OPENING, 0]
            out[_P["jaw"], 1] = WEAK
            out[_P["spread"], 0] = 0.0
        return out
    return np.asarray(CONSONANT_VISEMES[viseme_class(p)], np.float32)


@dataclass(frozen=True)
class ArticulationStyle:
    """How one speaker articulates. The defaults are a clear, average speaker."""

    amplitude: float = 1.0  # hyper (>1) or hypo (<1) articulation: scales every target
    jaw_share: float = 0.5  # 0..1: how much of the opening the jaw does rather than the lips
    rounding: float = 1.0  # strength of protrusion and funnelling
    spread: float = 1.0  # strength of lip spreading (front vowels, sibilants)
    asymmetry: float = 0.0  # -0.3..0.3: left side (+) or right side (-) moves more
    lead: float = 0.010  # s: the visible articulation runs ahead of the sound
    coarticulation: float = 1.0  # scales the reach of every dominance tail
    smoothing: float = 0.012  # s: sigma of the Gaussian low-pass on the parameters
    variability: float = 0.08  # relative jitter of each segment's targets (needs an rng)
    rest_open: float = 0.45  # share of pauses in which the lips stay slightly apart
    rest_gap: float = 1.0  # how far apart they are then (x REST_JAW / REST_LOWER)

    def __post_init__(self) -> None:
        bounds = {"amplitude": (0.3, 2.0), "jaw_share": (0.0, 1.0), "rounding": (0.0, 2.0),
                  "spread": (0.0, 2.0), "asymmetry": (-0.3, 0.3), "lead": (0.0, 0.15),
                  "coarticulation": (0.25, 4.0), "smoothing": (0.0, 0.1),
                  "variability": (0.0, 0.5), "rest_open": (0.0, 1.0), "rest_gap": (0.0, 3.0)}
        for f in fields(self):
            lo, hi = bounds[f.name]
            v = getattr(self, f.name)
            if not (np.isfinite(v) and lo <= v <= hi):
                raise ValueError(f"ArticulationStyle.{f.name}={v!r} is outside [{lo}, {hi}]: "
                                 "pass a value in that range")

    @classmethod
    def sample(cls, rng: np.random.Generator) -> "ArticulationStyle":
        """A plausible random speaker: mostly near the defaults, sometimes hyper or hypo."""
        return cls(
            amplitude=float(np.clip(rng.lognormal(0.0, 0.18), 0.6, 1.5)),
            jaw_share=float(rng.uniform(0.3, 0.7)),
            rounding=float(np.clip(rng.normal(1.0, 0.2), 0.5, 1.5)),
            spread=float(np.clip(rng.normal(1.0, 0.25), 0.4, 1.6)),
            asymmetry=float(np.clip(rng.normal(0.0, 0.07), -0.2, 0.2)),
            lead=float(rng.uniform(0.0, 0.020)),
            coarticulation=float(np.clip(rng.lognormal(0.0, 0.2), 0.6, 1.7)),
            smoothing=float(rng.uniform(0.006, 0.020)),
            variability=float(rng.uniform(0.03, 0.12)),
            rest_open=float(rng.uniform(0.2, 0.7)),
            rest_gap=float(np.clip(rng.lognormal(0.0, 0.35), 0.4, 1.8)),
        )


@dataclass
class Articulation:
    """The rig's output for one utterance (T frames at `fps`)."""

    arkit: np.ndarray  # T x K float32 in [0, 1]
    jaw: np.ndarray  # T x 3 float32 axis-angle, = vocab.jaw_open_to_pose(arkit[:, jawOpen])
    phone_ids: np.ndarray  # T int16: the phone at each frame's centre (phonemes.INVENTORY)
    closure: np.ndarray  # T float32 in [0, 1]: 1 where the lips must be shut (bilabials)
    labiodental: np.ndarray  # T float32 in [0, 1]: 1 where the lower lip must touch the teeth
    params: np.ndarray  # T x P float32: the articulatory parameters before mapping to ARKit
    free: np.ndarray  # T x K float32: arkit before the contacts are imposed (to fuse emotion)


def _check_phones(phones: list[PhoneSeg]) -> None:
    if not phones:
        raise ValueError("no phones: give at least one PhoneSeg (use 'sil' for silence)")
    for i, seg in enumerate(phones):
        phonemes.phone(seg.phone)
        if not (np.isfinite(seg.start) and np.isfinite(seg.end) and seg.end >= seg.start):
            raise ValueError(f"phone {i} ({seg.phone!r}) has start {seg.start} and end "
                             f"{seg.end}: segments need finite times with end >= start")
        if i and seg.start < phones[i - 1].start:
            raise ValueError(f"phone {i} ({seg.phone!r}) starts before phone {i - 1}: "
                             "sort the segments by time")


def frame_times(n_frames: int, fps: int = vocab.INTERNAL_FPS) -> np.ndarray:
    """Centres (s) of T frames: frame t covers [t, t+1) / fps."""
    return (np.arange(n_frames, dtype=np.float64) + 0.5) / fps


def phone_ids(phones: list[PhoneSeg], n_frames: int, fps: int = vocab.INTERNAL_FPS) -> np.ndarray:
    """T int16 inventory indices of the phone at each frame's centre (silence outside)."""
    t = frame_times(n_frames, fps)
    ends = np.array([s.end for s in phones])
    idx = np.searchsorted(ends, t, side="right")
    ids = np.array([phonemes.PHONE_INDEX[s.phone] for s in phones] + [
        phonemes.PHONE_INDEX[phonemes.SILENCE]], np.int16)
    out = ids[np.minimum(idx, len(phones))]
    out[t < phones[0].start] = phonemes.PHONE_INDEX[phonemes.SILENCE]
    return out


def _segments(phones: list[PhoneSeg]) -> list[tuple[float, float, str, int]]:
    """(start, end, symbol, index of the phone) with diphthongs split into their two vowels."""
    out = []
    for i, s in enumerate(phones):
        p = phonemes.phone(s.phone)
        if p.glide_to:
            mid = s.start + DIPHTHONG_SPLIT * (s.end - s.start)
            out += [(s.start, mid, s.phone, i), (mid, s.end, p.glide_to, i)]
        else:
            out.append((s.start, s.end, s.phone, i))
    return out


def syllable_prominence(phones: list[PhoneSeg], loudness: np.ndarray | None = None,
                        f0z: np.ndarray | None = None,
                        fps: int = vocab.INTERNAL_FPS) -> np.ndarray:
    """S prominence in [0, 1] of each phone's syllable (NaN for consonants and silence).

    Full vowels average lexical stress (`PhoneSeg.stress`, LEXICAL_PROMINENCE), where it is
    known, with the utterance's accents (alone where it is not): the vowel's log duration, its peak
    loudness and its mean F0 z-score (T tracks from `expressive.prosody`), each z-scored
    over the utterance's full vowels, summed (F0 at half weight) and squashed by a
    logistic. Accented syllables are longer, louder and higher (Beckman & Edwards 1994;
    de Jong 1995). Without tracks, or with fewer than three full vowels, the acoustic part
    is 0.5. Reduced vowels are 0."""
    n = len(phones)
    out = np.full(n, np.nan)
    full = [i for i, s in enumerate(phones) if phonemes.phone(s.phone).kind == "vowel"
            and s.phone not in phonemes.REDUCED_VOWELS]
    for i, s in enumerate(phones):
        if s.phone in phonemes.REDUCED_VOWELS:
            out[i] = 0.0
    if not full:
        return out
    acoustic = np.full(len(full), 0.5)
    if len(full) >= 3:
        feats = [np.log([max(phones[i].end - phones[i].start, 0.01) for i in full])]
        for track, weight in ((loudness, 1.0), (f0z, 0.5)):
            if track is None or len(track) == 0:
                continue
            vals = []
            for i in full:
                a = int(np.clip(np.floor(phones[i].start * fps), 0, len(track) - 1))
                b = int(np.clip(np.ceil(phones[i].end * fps), a + 1, len(track)))
                seg = np.asarray(track[a:b], np.float64)
                vals.append(seg.max() if track is loudness else seg.mean())
            feats.append(weight * np.asarray(vals))
        z = np.zeros(len(full))
        for f in feats:
            sd = f.std()
            if sd > 1e-6:
                z += (f - f.mean()) / sd
        acoustic = 1.0 / (1.0 + np.exp(-1.2 * z / np.sqrt(len(feats))))
    for k, i in enumerate(full):
        stress = phones[i].stress
        out[i] = acoustic[k] if stress is None else (
            0.5 * LEXICAL_PROMINENCE.get(stress, UNKNOWN_PROMINENCE) + 0.5 * acoustic[k])
    return out


def prominence_gain(p: np.ndarray | float) -> np.ndarray:
    """Opening gain of a vowel of prominence p (PROMINENCE_GAIN[0] at 0 .. [1] at 1)."""
    lo, hi = PROMINENCE_GAIN
    return lo + (hi - lo) * np.clip(p, 0.0, 1.0)


def blend(segments: list[tuple[float, float, float, np.ndarray]], times: np.ndarray,
          reach_scale: float = 1.0) -> np.ndarray:
    """Cohen-Massaro dominance blending.

    segments: (start s, end s, plateau fraction, P x 2 targets and dominances) in visual
    time; times: T frame times -> T x P parameters. A segment's dominance is
    alpha * exp(-(tau / reach) ** TAIL_SHAPE): tau is the time outside the central plateau,
    reach the parameter's anticipatory tail before the segment and its carry-over tail
    after it. Each parameter is the dominance-weighted mean of the targets."""
    num = np.zeros((len(times), NUM_PARAMS))
    den = np.full((len(times), NUM_PARAMS), 1e-6)  # a faint pull to rest far from speech
    reach = _REACH * reach_scale  # P x 2
    span = 4.0 * reach.max()  # beyond this a tail is below exp(-16) of its peak
    for start, end, plateau, tv in segments:
        centre, half = 0.5 * (start + end), 0.5 * (end - start) * plateau
        lo, hi = np.searchsorted(times, [start - span, end + span])
        if lo >= hi:
            continue
        t = times[lo:hi, None]  # W x 1
        tau = np.maximum(np.abs(t - centre) - half, 0.0)  # W x 1
        lam = np.where(t < centre, reach[:, 0], reach[:, 1])  # W x P
        d = tv[:, 1] * np.exp(-((tau / lam) ** TAIL_SHAPE))  # W x P
        num[lo:hi] += d * tv[:, 0]
        den[lo:hi] += d
    return num / den


def _ramp(x: np.ndarray) -> np.ndarray:
    """Raised cosine: 0 for x <= 0, 1 for x >= 1, smooth in between."""
    x = np.clip(x, 0.0, 1.0)
    return 0.5 - 0.5 * np.cos(np.pi * x)


def contact_track(phones: list[PhoneSeg], times: np.ndarray, lead: float,
                  symbols: frozenset[str] = phonemes.BILABIALS) -> np.ndarray:
    """T in [0, 1]: how fully the contact of the phones in `symbols` (default: bilabial
    closure) must be made at each frame time; 1 over each such phone's hold."""
    c = np.zeros(len(times))
    for s in phones:
        if s.phone not in symbols:
            continue
        dur, mid = s.end - s.start, 0.5 * (s.start + s.end)
        a = min(s.start - lead, mid - CENTRE_HOLD)
        b = max(s.end - min(lead, RELEASE_FRACTION * dur), mid + CENTRE_HOLD)
        k = np.where(times < a, _ramp(1.0 - (a - times) / RAMP_CLOSE),
                     np.where(times > b, _ramp(1.0 - (times - b) / RAMP_OPEN), 1.0))
        c = np.maximum(c, k)
    return c.astype(np.float32)


def enforce_contacts(arkit: np.ndarray, closure: np.ndarray,
                     labiodental: np.ndarray | None = None) -> np.ndarray:
    """Make the lip contacts where the tracks say so, whatever else the face is doing.

    arkit: T x K weights; closure: T bilabial closure in [0, 1]; labiodental: T lip-to-teeth
    contact in [0, 1] or None -> T x K (a new array). For closure the jaw is held at most
    JAW_AT_CLOSURE open, the shapes that part the lips fade out and mouthClose lifts the
    lower lip onto the upper by as much as the remaining jaw opening takes. For the
    labiodental contact the jaw goes within LABIODENTAL_JAW, the lower lip tucks,
    protrusion yields and the upper lip lifts to show the incisors (LABIODENTAL_UPPER)."""
    out = np.array(arkit, dtype=np.float32, copy=True)
    j = vocab.ARKIT_INDEX["jawOpen"]
    if labiodental is not None:
        f = np.asarray(labiodental, np.float32)[:, None]  # T x 1
        jaw = out[:, j : j + 1]
        out[:, j : j + 1] = (1 - f) * jaw + f * np.clip(jaw, *LABIODENTAL_JAW)
        roll = vocab.ARKIT_INDEX["mouthRollLower"]
        out[:, roll] = np.maximum(out[:, roll], f[:, 0] * LABIODENTAL_TUCK)
        out[:, _ROUNDERS] *= 1 - LABIODENTAL_UNROUND * f
        out[:, _LOWER_DOWN] *= 1 - f
        out[:, _UPPER_UP] = np.maximum(out[:, _UPPER_UP], f * LABIODENTAL_UPPER)
    return np.clip(close_lips(out, closure), 0.0, 1.0)


def _style_gains(style: ArticulationStyle) -> np.ndarray:
    """P multipliers of the targets for one speaker."""
    g = np.full(NUM_PARAMS, style.amplitude)
    g[_P["jaw"]] *= 0.6 + 0.8 * style.jaw_share
    g[[_P["lower"], _P["upper"]]] *= 1.4 - 0.8 * style.jaw_share
    g[[_P["pucker"], _P["funnel"]]] *= style.rounding
    g[_P["spread"]] *= style.spread
    return g


def _asymmetry_gains(asymmetry: float) -> np.ndarray:
    """K multipliers: left-side shapes by 1 + a, right-side by 1 - a."""
    g = np.ones(vocab.NUM_ARKIT, np.float32)
    for i, j in vocab.ARKIT_LR_PAIRS:
        left, right = (i, j) if vocab.ARKIT_NAMES[i].endswith("Left") else (j, i)
        g[left], g[right] = 1 + asymmetry, 1 - asymmetry
    return g


def articulate(phones: list[PhoneSeg], n_frames: int | None = None,
               style: ArticulationStyle | None = None, rng: np.random.Generator | None = None,
               fps: int = vocab.INTERNAL_FPS, prominence: np.ndarray | None = None) -> Articulation:
    """Timed phones -> the speech part of the face targets.

    phones: contiguous PhoneSeg (symbols of phonemes.INVENTORY); n_frames: T (default:
    enough frames to cover the last phone); style: the speaker (default ArticulationStyle());
    rng: draws each segment's target jitter (style.variability) and whether each pause
    rests with the lips apart (style.rest_open); None gives no jitter and every pause
    `rest_open` of the parted rest, so the output is a pure function of the phones and the
    style; prominence: S values from `syllable_prominence` (default: from lexical stress
    alone) that scale each full vowel's opening (`prominence_gain`)."""
    _check_phones(phones)
    style = style or ArticulationStyle()
    if n_frames is None:
        n_frames = int(np.ceil(phones[-1].end * fps - 1e-9))
    if n_frames < 0:
        raise ValueError(f"n_frames must be >= 0, got {n_frames}")
    if prominence is None:
        prominence = syllable_prominence(phones)
    prominence = np.asarray(prominence, np.float64)
    if prominence.shape != (len(phones),):
        raise ValueError(f"prominence has shape {prominence.shape}: expected ({len(phones)},), "
                         "one value per phone (syllable_prominence gives it)")
    times = frame_times(n_frames, fps)
    gains = _style_gains(style)
    segs = []
    for start, end, sym, i in _segments(phones):
        tv = viseme(sym).astype(np.float64)  # P x 2
        kind = phonemes.phone(sym).kind
        if kind == "silence":
            # Rest posture: some pauses keep the lips slightly apart.
            parted = (float(rng.random() < style.rest_open) if rng is not None
                      else style.rest_open)
            tv[_P["jaw"], 0] = REST_JAW * style.rest_gap * parted
            tv[_P["lower"], 0] = REST_LOWER * style.rest_gap * parted
        tv[:, 0] *= gains
        if kind == "vowel" and sym not in phonemes.REDUCED_VOWELS and np.isfinite(prominence[i]):
            tv[_OPENING, 0] *= prominence_gain(prominence[i])
        if rng is not None and style.variability > 0:
            tv[:, 0] *= np.exp(rng.normal(0.0, style.variability, NUM_PARAMS))
        if kind == "silence":
            # A short pause barely relaxes the face; a long one returns it to rest.
            tv[:, 1] *= np.clip((end - start) / SILENCE_FULL_S, *SILENCE_DOMINANCE)
        plateau = PLATEAU.get(kind, _PLATEAU_DEFAULT)
        # The face runs ahead of the sound: a segment shows `lead` seconds early.
        segs.append((start - style.lead, end - style.lead, plateau, tv))
    params = blend(segs, times, style.coarticulation) if n_frames else np.zeros((0, NUM_PARAMS))
    sigma = style.smoothing * fps
    if sigma >= 0.3 and n_frames > 1:
        from scipy.ndimage import gaussian_filter1d
        params = gaussian_filter1d(params, sigma, axis=0, mode="nearest")
    params = np.clip(params, 0.0, 1.0).astype(np.float32)
    free = np.clip((params @ PARAM_ARKIT) * _asymmetry_gains(style.asymmetry), 0.0, 1.0)
    closure = contact_track(phones, times, style.lead, phonemes.BILABIALS)
    labiodental = contact_track(phones, times, style.lead, phonemes.LABIODENTALS)
    arkit = enforce_contacts(free, closure, labiodental)
    return Articulation(
        arkit=arkit, jaw=vocab.jaw_open_to_pose(arkit[:, vocab.ARKIT_INDEX["jawOpen"]]),
        phone_ids=phone_ids(phones, n_frames, fps), closure=closure, labiodental=labiodental,
        params=params, free=free.astype(np.float32))

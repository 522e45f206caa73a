"""What the engine adds to every stream besides speech: blinks, gaze, head motion, brow
raises on accents, and a live articulation strength.

The model animates speech and emotion; its targets' blinks and gaze were random, so it
learned their mean (about nothing). A face without them stares, so each `Stream` owns a
`Behaviour` that runs once per output frame, causally (it sees the frame being made and the
audio the model has already heard: no look-ahead beyond the model's), from the stream's
seed (same seed and audio -> identical frames), in a few microseconds of Python. Each
behaviour draws from its own random generator, so switching one off changes nothing else.
docs/behaviour.md gives the models, their numbers and their sources.

    s = engine.create_stream(behaviour={"gaze": "camera", "blink_rate": 20}, seed=3)
    s.set_behaviour(blinks=False, articulation=1.4)   # any moment, from the stream's thread

Gaze angles are degrees: yaw positive towards the subject's left, pitch positive up.
Shapes: K = 52 ARKit weights, E = 7 emotions.
"""
from __future__ import annotations

import math
from collections import deque

import numpy as np

from .. import vocab
# Re-exported: the options' limits are this module's constants too (exporters/web.py reads them).
from .behaviour_options import (BLINK_RATE_REST, GAZE_MODES, MAX_ARTICULATION,  # noqa: F401
                                MAX_GAZE_DEG, BehaviourOptions, parse_gaze)
from .emotion import EMOTION_ARKIT
from .expressive import (BLINK_CLOSE_S, BLINK_HOLD_S, BLINK_OPEN_S, BLINK_REFRACTORY_S,
                         DOUBLE_BLINK_P, _blink_shape)

_K = vocab.ARKIT_INDEX

# ---- blinks (docs/behaviour.md#blinks) ---------------------------------------------------------
BLINK_TALK_GAIN = 1.3  # the renewal clock runs this much faster while talking
PAUSE_BLINK_P = 0.5  # chance of a blink 50-250 ms after a phrase ends
BLINK_SHAPE = 3.0  # gamma shape of the intervals (as the corpus' blink_track)
DOUBLE_BLINK_DELAY_S = (0.2, 0.35)  # a double blink's second onset after the first
PAUSE_BLINK_DELAY_S = (0.05, 0.25)  # a phrase-end blink's delay
BLINK_DEPTH = (0.85, 1.0)  # how far a blink closes the lids
BLINK_LAG_S = 0.004  # the eyes close up to this far apart in time

# ---- gaze (docs/behaviour.md#gaze) ---------------------------------------------------------------
FIXATION_MEDIAN_S, FIXATION_SIGMA = 0.3, 0.4  # log-normal fixation durations...
FIXATION_S = (0.15, 1.2)  # ...clipped to this
FACE_SCAN_DEG = (0.8, 3.0)  # saccades about the listener's face
AVERSION_DEG = (4.0, 18.0)  # saccades away from the listener: 4 + exponential, clipped
AVERSION_MEAN_DEG = 4.0  # mean of that exponential part
AVERSION_VERTICAL = 0.6  # averted gaze moves less vertically than sideways
SACCADE_MS = (20.0, 3.0)  # duration = a + b * amplitude (deg): the main sequence
MICRO_PER_S = 1.5  # microsaccades per second during a fixation (Poisson)
MICRO_DEG = (0.1, 1.0)  # their amplitudes
MICRO_REFRACTORY_S = 0.15
MICRO_CORRECTION_RAD = 0.8  # a corrective microsaccade's direction spread about the way back
# (at the listener, away) glance lengths in seconds, while listening and while talking
GLANCE_LISTENING_S = ((1.0, 7.0), (0.4, 1.6))
GLANCE_TALKING_S = ((0.5, 1.5), (1.0, 3.0))
TURN_LOOK_P = 0.7  # speech starts with the eyes turning away / ends with them coming back
LID_FOLLOW_DOWN = 0.45  # eyeBlink per unit of eyeLookDown: the upper lid follows the eye
LID_FOLLOW_UP = 0.25  # eyeWide per unit of eyeLookUp

# ---- voice activity and accents -----------------------------------------------------------------
LEVEL_DECAY_DB_S = 2.0  # the running speech peak level falls this fast in silence
LEVEL_FLOOR_DB = -50.0
VOICE_BELOW_PEAK_DB = 25.0  # voiced: within this of the running peak
LOUD_RANGE_DB = 30.0  # loudness 0..1 over this range below the peak
HANGOVER_S = 0.3  # a silence shorter than this does not end a phrase
VOICE_FLOOR_MARGIN_DB = 10.0  # voiced needs a level above LEVEL_FLOOR_DB minus this
ENVELOPE_TAU_S, SLOW_TAU_S = 0.04, 1.0  # the loudness envelope and its slow mean (accents)
PHRASE_MIN_S = 0.5  # a phrase (or a pause) this long counts as one
ACCENT_LOUD, ACCENT_ABOVE, ACCENT_SPACING_S = 0.6, 0.12, 0.35

# ---- head (docs/behaviour.md#head) ---------------------------------------------------------------
BREATH_HZ = 0.25  # 15 breaths per minute
BREATH_DEG = 0.4  # pitch amplitude of breathing
DRIFT_DEG = (0.8, 1.2, 0.5)  # pitch, yaw, roll std of the idle drift...
DRIFT_TAU_S = (2.5, 3.0, 3.5)  # ...and its time constants
TALKING_IDLE = 0.5  # idle motion keeps this share while talking (the model moves the neck then)
NOD_DEG = (0.8, 2.5)  # accent nod target (at full loudness)
NOD_S = (0.3, 0.45)  # a nod's down-and-up
MODEL_NOD_TAU_S = 0.3  # how long the model's own nod counts against the target
HEAD_FOLLOWS_GAZE = 0.15  # the head turns this share of an averted gaze...
HEAD_FOLLOW_TAU_S = 0.3  # ...lagging by about this

# ---- brows ----------------------------------------------------------------------------------------
BROW_RAISE = 0.25  # browInnerUp at a full accent (outer brows: BROW_OUTER of that)
BROW_OUTER = 0.8
BROW_RISE_S, BROW_FALL_S = 0.12, 0.4
BROW_RANDOM = (0.7, 1.0)  # each raise is this share of its accent's, drawn uniformly
# How much each emotion (vocab.EMOTION_NAMES order) scales the brow raise at intensity 1.
BROW_EMOTION_GAIN = np.array([1.0, 1.2, 0.5, 1.6, 1.3, 0.6, 0.4], np.float32)
if BROW_EMOTION_GAIN.shape != (vocab.NUM_EMOTIONS,):
    raise AssertionError("BROW_EMOTION_GAIN needs one gain per emotion")

# ---- articulation -----------------------------------------------------------------------------------
# The speech shapes articulation scales: the jaw, every mouth shape and the tongue.
MOUTH = np.array([i for i, n in enumerate(vocab.ARKIT_NAMES)
                  if n.startswith(("jaw", "mouth")) or n == "tongueOut"])

# The eyeLook rows a gaze up / down / to the subject's left / right moves (left: left eye out,
# right eye in), and their full-scale angles.
_LOOK_UP, _LOOK_DOWN = (_K["eyeLookUpLeft"], _K["eyeLookUpRight"]), (_K["eyeLookDownLeft"], _K["eyeLookDownRight"])
_LOOK_LEFT, _LOOK_RIGHT = (_K["eyeLookOutLeft"], _K["eyeLookInRight"]), (_K["eyeLookOutRight"], _K["eyeLookInLeft"])
_RAD_UP, _RAD_DOWN, _RAD_IN, _RAD_OUT = (vocab.EYE_LOOK_RAD[d] for d in ("Up", "Down", "In", "Out"))
_BLINK = [_K["eyeBlinkLeft"], _K["eyeBlinkRight"]]
_WIDE = [_K["eyeWideLeft"], _K["eyeWideRight"]]
_BROW_OUTER = [_K["browOuterUpLeft"], _K["browOuterUpRight"]]


def _smooth_step(u: float) -> float:
    """Minimum-jerk 0 -> 1 over u in [0, 1] (a saccade's position profile)."""
    u = min(1.0, max(0.0, u))
    return u * u * u * (10.0 + u * (6.0 * u - 15.0))


class Behaviour:
    """The per-stream state of everything `BehaviourOptions` switches on. Call `step` once per
    output frame, in order. `events` keeps the last few thousand blinks, saccades,
    microsaccades and glance changes (what the tests and docs/behaviour.md measure)."""

    def __init__(self, options: BehaviourOptions, fps: int):
        self.options, self.fps, self.dt = options, fps, 1.0 / fps
        decay = lambda tau: math.exp(-self.dt / tau)  # noqa: E731  (per-frame factors, once)
        self._k_env, self._k_slow = 1 - decay(ENVELOPE_TAU_S), 1 - decay(SLOW_TAU_S)
        self._a_nod, self._k_follow = decay(MODEL_NOD_TAU_S), 1 - decay(HEAD_FOLLOW_TAU_S)
        seeds = np.random.SeedSequence(options.seed).spawn(4)
        self._rng_blink, self._rng_gaze, self._rng_head, self._rng_brow = (
            np.random.default_rng(s) for s in seeds)
        self.t = 0.0
        self.events: deque[tuple] = deque(maxlen=8192)
        # voice
        self.level = LEVEL_FLOOR_DB
        self.env = self.env_prev = self.slow = 0.0
        self.rising = False
        self.voiced_s, self.silent_s = 0.0, PHRASE_MIN_S
        self.talking = False
        self.last_accent = -1e9
        # blinks: a renewal process on a clock that runs faster while talking
        r = self._rng_blink
        self.blink_clock = 0.0
        self.next_blink = r.uniform() * r.gamma(BLINK_SHAPE, 1.0 / BLINK_SHAPE)  # in mean intervals
        self.last_blink = -1e9
        self.pending_blinks: list[float] = []
        self.blinks: list[tuple] = []  # (onset, close, hold, open, depth, lag)
        # gaze
        self.at_listener = True
        self.next_glance = self._glance_length()
        # Two-vectors (yaw, pitch) are tuples of floats: numpy costs more than it saves here.
        self.fix = (0.0, 0.0)  # the fixation point
        self.micro = (0.0, 0.0)  # the microsaccade offset from it
        self.gaze = (0.0, 0.0)
        self.sacc: tuple | None = None  # (from, to, start, duration)
        self.fix_start = 0.0  # when the current fixation began
        self.next_fix = self._fixation_length()
        self.next_micro = self._rng_gaze.exponential(1.0 / MICRO_PER_S)
        # head
        h = self._rng_head
        self.drift = [h.normal(0, s) for s in DRIFT_DEG]
        self._noise, self._noise_at = [], 0  # the drift's innovations, drawn in blocks
        # Each drift axis per frame: d = a * d + gain * N(0, 1), an AR(1) of std sd.
        steps = [(sd, math.exp(-self.dt / tau)) for sd, tau in zip(DRIFT_DEG, DRIFT_TAU_S)]
        self._drift_steps = [(a, sd * math.sqrt(1 - a * a)) for sd, a in steps]
        self.breath_phase = h.uniform(0, 2 * math.pi)
        self.nods: list[tuple] = []  # (start, amplitude rad, length)
        self.model_slow = 0.0  # the model's neck pitch, slowly
        self.model_nod = 0.0  # its recent nod (a decaying peak)
        self.follow = [0.0, 0.0]  # head yaw, pitch following the gaze (deg)
        # brows
        self.raises: list[tuple] = []  # (start, amplitude)

    # ---- the frame ---------------------------------------------------------------------------
    def step(self, arkit: np.ndarray, jaw: np.ndarray, neck: np.ndarray, loud_db: float,
             emotion: np.ndarray, intensity: float) -> None:
        """Lay this frame's behaviour over the model's (in place): arkit K in [0, 1], jaw and
        neck 3 axis-angle; loud_db: the audio level the model heard last (dB re full scale);
        emotion: E weights and intensity in effect."""
        o = self.options
        accent = self._listen(loud_db)
        if o.articulation != 1.0:
            self._articulate(arkit, jaw, emotion, intensity)
        if o.brows > 0:
            self._brows(arkit, accent, emotion, intensity)
        if o.blinks:
            self._blink(arkit)
        if o.gaze != "off":
            self._look(arkit)
        if o.head > 0:
            self._head(neck, accent)
        self.t += self.dt

    # ---- voice activity and accents (shared, no randomness) --------------------------------------
    def _listen(self, db: float) -> float:
        """-> accent strength in (0, 1] on the frame an accent is found, else 0."""
        dt = self.dt
        self.level = max(db, self.level - LEVEL_DECAY_DB_S * dt, LEVEL_FLOOR_DB)
        voiced = db > self.level - VOICE_BELOW_PEAK_DB and db > LEVEL_FLOOR_DB - VOICE_FLOOR_MARGIN_DB
        loud = min(1.0, max(0.0, (db - self.level + LOUD_RANGE_DB) / LOUD_RANGE_DB)) if voiced else 0.0
        if voiced:
            if not self.talking and self.silent_s >= PHRASE_MIN_S and self.voiced_s == 0.0:
                self._speech_starts()
            self.voiced_s += dt
            self.silent_s = 0.0
            self.talking = True
        else:
            self.silent_s += dt
            if self.talking and self.silent_s >= HANGOVER_S:
                self.talking = False
                if self.voiced_s >= PHRASE_MIN_S:
                    self._phrase_ends()
                self.voiced_s = 0.0
        self.env_prev, self.env = self.env, self.env + self._k_env * (loud - self.env)
        self.slow += self._k_slow * (loud - self.slow)
        accent = 0.0
        if self.env < self.env_prev and self.rising and self.env_prev > ACCENT_LOUD \
                and self.env_prev - self.slow > ACCENT_ABOVE \
                and self.t - self.last_accent >= ACCENT_SPACING_S:
            accent, self.last_accent = self.env_prev, self.t
        self.rising = self.env > self.env_prev
        return accent

    def _speech_starts(self) -> None:
        if self.at_listener and self._rng_gaze.uniform() < TURN_LOOK_P:
            self._glance(False)

    def _phrase_ends(self) -> None:
        if self._rng_blink.uniform() < PAUSE_BLINK_P:
            self.pending_blinks.append(self.t + self._rng_blink.uniform(*PAUSE_BLINK_DELAY_S))
        if not self.at_listener and self._rng_gaze.uniform() < TURN_LOOK_P:
            self._glance(True)

    # ---- articulation and brows --------------------------------------------------------------------
    def _articulate(self, arkit, jaw, emotion, intensity) -> None:
        """Scale the speech part of the mouth about the emotion's own expression; the jaw joint
        moves with jawOpen (vocab.JAW_OPEN_MAX_RAD per unit)."""
        s = self.options.articulation
        expr = (emotion * intensity) @ EMOTION_ARKIT[:, MOUTH]
        j = _K["jawOpen"]
        before = float(arkit[j])
        arkit[MOUTH] = np.clip(expr + s * (arkit[MOUTH] - expr), 0.0, 1.0)
        jaw[0] += (float(arkit[j]) - before) * vocab.JAW_OPEN_MAX_RAD

    def _brows(self, arkit, accent, emotion, intensity) -> None:
        if accent > 0:
            gain = 1.0 + intensity * float(emotion @ (BROW_EMOTION_GAIN - 1.0))
            amp = BROW_RAISE * self.options.brows * accent * gain * self._rng_brow.uniform(*BROW_RANDOM)
            self.raises.append((self.t, amp))
        if not self.raises:
            return
        y = 0.0
        for start, amp in self.raises:
            u = self.t - start
            y += amp * (math.sin(0.5 * math.pi * u / BROW_RISE_S) ** 2 if u < BROW_RISE_S
                        else 1.0 - _smooth_step((u - BROW_RISE_S) / BROW_FALL_S))
        self.raises = [r for r in self.raises if self.t - r[0] < BROW_RISE_S + BROW_FALL_S]
        i = _K["browInnerUp"]
        arkit[i] = min(1.0, arkit[i] + y)
        for i in _BROW_OUTER:
            arkit[i] = min(1.0, arkit[i] + BROW_OUTER * y)

    # ---- blinks -------------------------------------------------------------------------------------
    def _blink(self, arkit) -> None:
        r, t = self._rng_blink, self.t
        rate = self.options.blink_rate * (BLINK_TALK_GAIN if self.talking else 1.0)
        self.blink_clock += self.dt * rate / 60.0  # in mean intervals
        due = self.blink_clock >= self.next_blink
        if self.pending_blinks and t >= self.pending_blinks[0]:
            self.pending_blinks.pop(0)
            due = due or t - self.last_blink >= BLINK_REFRACTORY_S
        if due:
            onsets = [t]
            if r.uniform() < DOUBLE_BLINK_P:
                onsets.append(t + r.uniform(*DOUBLE_BLINK_DELAY_S))
            for onset in onsets:
                close, hold, opening = (r.uniform(*BLINK_CLOSE_S), r.uniform(*BLINK_HOLD_S),
                                        r.uniform(*BLINK_OPEN_S))
                self.blinks.append((onset, close, hold, opening, r.uniform(*BLINK_DEPTH),
                                    r.uniform(-BLINK_LAG_S, BLINK_LAG_S)))
                self.events.append(("blink", onset, close + hold + opening))
            self.last_blink = onsets[-1]
            floor = BLINK_REFRACTORY_S * rate / 60.0
            self.blink_clock = 0.0
            self.next_blink = max(floor, r.gamma(BLINK_SHAPE, 1.0 / BLINK_SHAPE))
        if not self.blinks:
            return
        closed = np.zeros(2)
        for onset, close, hold, opening, depth, lag in self.blinks:
            u = np.array([t - onset, t - onset - lag])
            closed = np.maximum(closed, depth * _blink_shape(u, close, hold, opening))
        self.blinks = [b for b in self.blinks if t - b[0] - abs(b[5]) < b[1] + b[2] + b[3]]
        arkit[_BLINK] = 1.0 - (1.0 - arkit[_BLINK]) * (1.0 - closed)
        arkit[_WIDE] *= 1.0 - closed

    # ---- gaze ----------------------------------------------------------------------------------------
    def _glance_length(self) -> float:
        table = GLANCE_TALKING_S if self.talking else GLANCE_LISTENING_S
        return self.t + self._rng_gaze.uniform(*table[0 if self.at_listener else 1])

    def _fixation_length(self) -> float:
        d = FIXATION_MEDIAN_S * math.exp(FIXATION_SIGMA * self._rng_gaze.normal())
        return self.t + min(FIXATION_S[1], max(FIXATION_S[0], d))

    def _glance(self, at_listener: bool) -> None:
        """Switch between looking at the listener and away; the eyes go as soon as the
        fixation in progress may end."""
        self.at_listener = at_listener
        self.events.append(("glance", self.t, at_listener, self.talking))
        self.next_glance = self._glance_length()
        self.next_fix = max(self.t, self.fix_start + FIXATION_S[0])  # as soon as a fixation may end

    def _new_fixation(self) -> tuple[tuple[float, float], str]:
        r = self._rng_gaze
        angle = r.uniform(0, 2 * math.pi)
        g = self.options.gaze
        if g == "auto" and not self.at_listener:
            amp = min(AVERSION_DEG[1], AVERSION_DEG[0] + r.exponential(AVERSION_MEAN_DEG))
            return (amp * math.cos(angle), AVERSION_VERTICAL * amp * math.sin(angle)), "aversion"
        yaw, pitch = g if isinstance(g, tuple) else (0.0, 0.0)
        half = 0.5 * r.uniform(*FACE_SCAN_DEG)
        return (yaw + half * math.cos(angle), pitch + half * math.sin(angle)), "scan"

    def _look(self, arkit) -> None:
        r, t = self._rng_gaze, self.t
        if self.options.gaze == "auto" and t >= self.next_glance:
            self._glance(not self.at_listener)
        if t >= self.next_fix and self.sacc is None:
            (yaw, pitch), kind = self._new_fixation()
            target = (_clip_gaze(yaw), _clip_gaze(pitch))
            amp = math.hypot(target[0] - self.gaze[0], target[1] - self.gaze[1])
            dur = (SACCADE_MS[0] + SACCADE_MS[1] * amp) / 1000.0
            self.sacc = (self.gaze, target, t, dur)
            self.fix, self.micro = target, (0.0, 0.0)
            self.events.append(("saccade", t, amp, kind, dur))
        elif self.sacc is None and t >= self.next_micro:
            amp = r.uniform(*MICRO_DEG)
            mx, my = self.micro
            if math.hypot(mx, my) > 0.5 * MICRO_DEG[1]:  # corrective: back towards the fixation
                angle = math.atan2(-my, -mx) + r.uniform(-MICRO_CORRECTION_RAD, MICRO_CORRECTION_RAD)
            else:
                angle = r.uniform(0, 2 * math.pi)
            self.micro = (mx + amp * math.cos(angle), my + amp * math.sin(angle))
            self.events.append(("micro", t, amp))
            self.next_micro = t + MICRO_REFRACTORY_S + r.exponential(1.0 / MICRO_PER_S)
        if self.sacc is not None:
            (y0, p0), (y1, p1), start, dur = self.sacc
            u = (t - start) / dur
            w = _smooth_step(u)
            self.gaze = (y0 + w * (y1 - y0), p0 + w * (p1 - p0))
            if u >= 1.0:
                self.sacc = None
                self.fix_start, self.next_fix = t, self._fixation_length()
        else:
            self.gaze = (self.fix[0] + self.micro[0], self.fix[1] + self.micro[1])
        yaw, pitch = math.radians(_clip_gaze(self.gaze[0])), math.radians(_clip_gaze(self.gaze[1]))
        # Only the rows the gaze turns towards move (at most one of up/down, one of left/right);
        # the upper lids follow a look up (eyeWide), the lids a look down (eyeBlink).
        if pitch != 0.0:
            rows, lids, follow, w = ((_LOOK_UP, _WIDE, LID_FOLLOW_UP, pitch / _RAD_UP) if pitch > 0.0
                                     else (_LOOK_DOWN, _BLINK, LID_FOLLOW_DOWN, -pitch / _RAD_DOWN))
            for i in rows:
                arkit[i] = min(1.0, arkit[i] + w)
            for i in lids:
                arkit[i] = min(1.0, arkit[i] + follow * w)
        if yaw != 0.0:  # towards the subject's left (yaw > 0) or right: one eye out, one in
            turn = abs(yaw)
            out_row, in_row = _LOOK_LEFT if yaw > 0.0 else _LOOK_RIGHT
            arkit[out_row] = min(1.0, arkit[out_row] + turn / _RAD_OUT)
            arkit[in_row] = min(1.0, arkit[in_row] + turn / _RAD_IN)

    # ---- head ----------------------------------------------------------------------------------------
    def _head(self, neck, accent: float) -> None:
        h, t, amount = self._rng_head, self.t, self.options.head
        idle = amount * (TALKING_IDLE if self.talking else 1.0)
        if self._noise_at == len(self._noise):  # (Python floats: cheaper per frame than numpy's)
            self._noise, self._noise_at = h.normal(size=(256, 3)).tolist(), 0
        noise = self._noise[self._noise_at]
        self._noise_at += 1
        d = self.drift
        for i, (a, gain) in enumerate(self._drift_steps):
            d[i] = a * d[i] + gain * noise[i]
        breath = BREATH_DEG * math.sin(2 * math.pi * BREATH_HZ * t + self.breath_phase)
        # The model nods on accents too: top its nod up to the target, never add a second one.
        a = self._a_nod
        pitch = float(neck[0])
        self.model_slow = a * self.model_slow + (1 - a) * pitch
        self.model_nod = max(abs(pitch - self.model_slow), a * self.model_nod)
        if accent > 0:
            target = math.radians(h.uniform(*NOD_DEG)) * accent * amount
            if target > self.model_nod:
                self.nods.append((t, target - self.model_nod, h.uniform(*NOD_S)))
        nod = 0.0
        if self.nods:
            for start, amp, length in self.nods:
                nod += amp * math.sin(math.pi * min(1.0, (t - start) / length)) ** 2
            self.nods = [n for n in self.nods if t - n[0] < n[2]]
        averted = self.options.gaze == "auto" and not self.at_listener
        k = self._k_follow
        for i in (0, 1):
            want = HEAD_FOLLOWS_GAZE * self.fix[i] if averted else 0.0
            self.follow[i] += k * (want - self.follow[i])
        # neck x: pitch (positive nods down); y: yaw (towards the subject's left); z: roll
        neck += np.array((nod + math.radians(idle * (d[0] + breath) - amount * self.follow[1]),
                          math.radians(idle * d[1] + amount * self.follow[0]),
                          math.radians(idle * d[2])), np.float32)


def _clip_gaze(v: float) -> float:
    return min(MAX_GAZE_DEG, max(-MAX_GAZE_DEG, v))

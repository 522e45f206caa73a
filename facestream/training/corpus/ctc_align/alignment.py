"""Forced alignment: Viterbi along a phone sequence over the phone model's frame scores
(numpy), and `Aligner`, which runs it on audio.

Shapes: S samples at vocab.SAMPLE_RATE, T frames at vocab.INTERNAL_FPS, P inventory phones,
N states of the forced sequence.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .... import vocab
from ...phonemes import INVENTORY, PHONE_INDEX, SILENCE
from ..types import PhoneSeg
from .model import PhoneModel, check_audio
from .espeak import phonemize, speakable

FRAME_S = vocab.HOP_SAMPLES / vocab.SAMPLE_RATE  # 0.01 s


def viterbi(emit: np.ndarray, states: list[int], optional: list[bool],
            min_frames: int = 1) -> np.ndarray:
    """Best monotonic path through `states` given frame scores.

    emit: T x P frame log-scores; states: N phone indices in order; optional: N flags, a
    state that may be skipped (silences). Each visited state takes >= 1 frame, and each
    state that cannot be skipped >= `min_frames` (lowered as far as needed, to 1 at most,
    when T cannot hold that many): a frame classifier unsure of real speech otherwise
    gives phones it cannot place a single frame. Returns the state index (0..N-1) of every
    frame (T,). Raises ValueError when T is shorter than the states that cannot be skipped."""
    T, N = emit.shape[0], len(states)
    if N == 0:
        raise ValueError("nothing to align: the phone sequence is empty")
    if len(optional) != N:
        raise ValueError("optional must have one flag per state")
    need = sum(not o for o in optional)
    if T < max(need, 1):
        raise ValueError(f"{T} frames cannot hold {need} phones: audio too short for the text")
    m = max(1, min(int(min_frames), T // max(need, 1)))
    # Each state that cannot be skipped becomes m chained copies: the path enters the first,
    # must step through the others, and may stay only in the last.
    opt = np.asarray(optional, dtype=bool)
    copies = np.where(opt, 1, m)
    owner = np.repeat(np.arange(N), copies)  # expanded state -> state
    last = np.cumsum(copies) - 1  # each state's last copy
    first = last - copies + 1
    K = len(owner)
    stay_ok = np.zeros(K, dtype=bool)
    stay_ok[last] = True
    # the first copy of j may come from j-2 when j-1 is optional (one copy: k-2 is j-2's last)
    skip_ok = np.zeros(K, dtype=bool)
    skip_ok[first[2:][opt[1:-1]]] = True
    e = emit[:, np.asarray(states)[owner]]  # T x K
    neg = -np.inf
    score = np.full(K, neg)
    score[0] = e[0, 0]
    if opt[0] and N > 1:
        score[first[1]] = e[0, first[1]]
    back = np.zeros((T, K), dtype=np.int8)  # how many states back the best predecessor is
    for t in range(1, T):
        stay = np.where(stay_ok, score, neg)
        step = np.concatenate(([neg], score[:-1]))
        skip = np.where(skip_ok, np.concatenate(([neg, neg], score[:-2])), neg)
        best = np.maximum(stay, np.maximum(step, skip))
        back[t] = np.where(best == stay, 0, np.where(best == step, 1, 2))
        score = best + e[t]
    end = last[N - 1]
    if N > 1 and opt[-1] and score[last[N - 2]] > score[end]:
        end = last[N - 2]
    if not np.isfinite(score[end]):
        raise ValueError("no alignment path: audio too short for the text")
    path = np.empty(T, dtype=np.int64)
    k = int(end)
    for t in range(T - 1, -1, -1):
        path[t] = k
        k -= int(back[t, k])
    return owner[path]


@dataclass
class Alignment:
    phones: list[PhoneSeg]  # contiguous, covering the audio
    confidence: float  # mean over frames of posterior(forced phone) / max posterior, 0..1
    frame_phones: np.ndarray = field(repr=False)  # T int indices into INVENTORY


def _column(model_phones: tuple[str, ...], p) -> int:
    """The model output that scores inventory phone `p`: its own, or, for an allophone the
    model was trained without (a checkpoint older than the phone), its phoneme's."""
    if p.symbol in model_phones:
        return model_phones.index(p.symbol)
    if p.allophone_of in model_phones:
        return model_phones.index(p.allophone_of)
    raise ValueError(f"the phone model has no output for {p.symbol!r}: retrain it "
                     "(python -m facestream.training.corpus.ctc_align train)")


class Aligner:
    """Forced alignment with a `PhoneModel`: `align(audio, phones)`, `align_text(audio, text,
    language)`."""

    def __init__(self, model: PhoneModel | None = None, prior_scale: float = 0.5,
                 min_frames: int = 1):
        self.model = model or PhoneModel.load()
        self.prior_scale = prior_scale  # how much of the prior to divide out (0 = posteriors)
        self.min_frames = min_frames  # shortest phone (10 ms frames; `viterbi`)
        self._col = np.array([_column(self.model.cfg.phones, p) for p in INVENTORY])

    def log_posteriors(self, audio: np.ndarray) -> np.ndarray:
        """T x P log posteriors in inventory order (reusable across `align_detailed` calls)."""
        return self.model.log_posteriors(audio)[:, self._col]

    def align_detailed(self, audio: np.ndarray, words: list[list[str]] | list[str],
                       logp: np.ndarray | None = None) -> Alignment:
        """audio S mono 16 kHz; words: inventory phones, either a flat list or one list per word
        (then an optional silence may fall between words). Silence is optional at both ends.
        logp: this audio's `log_posteriors`, when already computed."""
        if not words:
            raise ValueError("nothing to align: empty phone sequence (was the text empty?)")
        if isinstance(words[0], str):
            words = [list(words)]
        states, optional = [PHONE_INDEX[SILENCE]], [True]
        for w in words:
            for p in w:
                if p not in PHONE_INDEX:
                    raise ValueError(f"{p!r} is not an inventory phone")
                if p == SILENCE:
                    if not optional[-1]:
                        states.append(PHONE_INDEX[SILENCE])
                        optional.append(True)
                    continue
                states.append(PHONE_INDEX[p])
                optional.append(False)
            if not optional[-1]:
                states.append(PHONE_INDEX[SILENCE])
                optional.append(True)
        if len(states) == 1:
            raise ValueError("nothing to align: the phone sequence holds only silence")
        audio = check_audio(audio)
        if logp is None:
            logp = self.log_posteriors(audio)  # T x P, inventory order
        emit = logp - self.prior_scale * self.model.log_prior[self._col]
        path = viterbi(emit, states, optional, self.min_frames)
        ids = np.asarray(states)[path]
        # how close the forced path is to the best free choice at each frame: robust to how
        # sure the model is overall (real speech scores lower than synthetic everywhere)
        conf = float(np.exp(logp[np.arange(len(ids)), ids] - logp.max(1)).mean())
        segs = frames_to_segments(path, states, audio.size / vocab.SAMPLE_RATE)
        return Alignment(segs, conf, ids)

    def align(self, audio: np.ndarray, phones: list[list[str]] | list[str]) -> list[PhoneSeg]:
        """Contiguous PhoneSegs covering the audio, for the given inventory phones."""
        return self.align_detailed(audio, phones).phones

    def align_text(self, audio: np.ndarray, text: str, language: str) -> Alignment:
        """Align `text` as espeak-ng reads it in `language` (ISO 639-1)."""
        if not text or not text.strip():
            raise ValueError("nothing to align: empty text")
        return self.align_detailed(audio, phonemize(speakable(text), language))


def frames_to_segments(path: np.ndarray, state_phones: list[int], duration: float) -> list[PhoneSeg]:
    """A Viterbi state path (T,) -> one contiguous segment per visited state (two identical
    phones in a row stay two segments), the last ending at `duration` seconds."""
    segs: list[PhoneSeg] = []
    start = 0
    for t in range(1, len(path) + 1):
        if t == len(path) or path[t] != path[start]:
            segs.append(PhoneSeg(start * FRAME_S, min(t * FRAME_S, duration),
                                 INVENTORY[state_phones[int(path[start])]].symbol))
            start = t
    segs[-1].end = duration
    return segs


def segments_to_frames(segs: list[PhoneSeg], num: int) -> np.ndarray:
    """PhoneSegs -> (T,) inventory index of the phone at each frame's centre."""
    centres = (np.arange(num) + 0.5) * FRAME_S
    ends = np.array([s.end for s in segs])
    k = np.minimum(np.searchsorted(ends, centres, side="right"), len(segs) - 1)
    return np.array([PHONE_INDEX[segs[i].phone] for i in k], dtype=np.int64)


def words_of(segs: list[PhoneSeg]) -> list[list[str]]:
    """Segments -> phone lists split at silences (the optional-silence positions)."""
    words, cur = [], []
    for s in segs:
        if s.phone == SILENCE:
            if cur:
                words.append(cur)
            cur = []
        else:
            cur.append(s.phone)
    if cur:
        words.append(cur)
    return words


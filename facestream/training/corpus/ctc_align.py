"""Phone forced alignment for any language espeak-ng speaks (used for es, fr, it, ru prompts).

A small phone model (log-mel -> 4 conv layers -> a BiGRU -> one score per inventory phone
per 10 ms frame; 430k parameters, 0.9 MB in float16) is trained on speech whose phone timing
is known: MBROLA voices of 11 languages and flite/festival English voices (exact timing),
augmented towards recorded audio, plus half of the real English Asterisk prompts with
pocketsphinx's alignment as labels (without them the model only ever heard synthetic
speech, and disagreed with pocketsphinx on the other half by 30 ms instead of 15 ms).
Alignment is Viterbi along the prompt's phonemisation (espeak-ng, mapped into the
inventory) with an optional silence between words and at both ends; each phone takes at
least one frame.

Measured (shipped weights, `eval` / `english` below): mean boundary error 11 ms (median
7 ms, 86% within 20 ms) on held-out MBROLA voices es2, mx2, fr7, ca2, it4, us3; 15 ms mean
(median 10 ms) from pocketsphinx on the held-out English Asterisk prompts.

Why frame targets and not a CTC loss: CTC posteriors are peaky (a phone fires on one frame
and blank fills the rest), so a CTC forced path puts boundaries wherever the spikes fall,
typically 30-60 ms from the truth. With exact timing available the model is trained with
per-frame cross-entropy instead, and the Viterbi path over its (prior-divided) posteriors
puts boundaries where the acoustics change. The topology is the CTC one without blank.

Confidence of an alignment: the mean over frames of the forced phone's posterior divided by
the best phone's posterior at that frame (1 = the forced path is the model's own first
choice everywhere). Unlike the plain path posterior it does not sink on real speech, where
the model is less sure of every phone. How high a wrong transcript can still score depends
on the language, the speaker and the prompt (French and Spanish score lower than English
throughout: the model heard real speech only in English), so a prompt is kept when its
transcript beats 20 other prompts' transcripts of similar length on its own audio
(`transcript_margins`); a wrong text passes with probability 1/21.

    python -m facestream.training.corpus.ctc_align train        # ~15 min on 2 CPU cores
    python -m facestream.training.corpus.ctc_align eval         # held-out synthetic voices
    python -m facestream.training.corpus.ctc_align english      # vs pocketsphinx on English
    python -m facestream.training.corpus.ctc_align asterisk     # align es/fr/it/ru prompts

Shapes: S samples at vocab.SAMPLE_RATE, T frames at vocab.INTERNAL_FPS, P inventory phones.
"""
from __future__ import annotations

import hashlib
import math
import re
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

from ... import vocab
from ..phonemes import INVENTORY, PHONE_INDEX, SILENCE
from .types import PhoneSeg, Utterance

DEFAULT_WEIGHTS = Path(__file__).resolve().parents[2] / "assets" / "ctc_aligner.pt"
FRAME_S = vocab.HOP_SAMPLES / vocab.SAMPLE_RATE  # 0.01 s
WRONG_TEXTS = 20  # other transcripts each prompt's own must beat to be kept
CHECKPOINT_VERSION = 1

# The espeak-ng MBROLA voice whose --pho output phonemises each language (MBROLA SAMPA);
# other languages are read with espeak-ng --ipa through ESPEAK_IPA (voice IPA_VOICE or the
# language code). Spanish goes that way because espeak-ng's MBROLA tables for it are
# broken: es1/es2/mx1/mx2/vz1 drop the trill and initial r (arroba -> a o b a), es4 writes
# tap r as jj and l as L. es-419 is Latin American (the Asterisk voice is Mexican).
IPA_VOICE: dict[str, str] = {"es": "es-419"}
PHONEMISER_VOICE: dict[str, str] = {
    "en": "mb-us1", "fr": "mb-ca1", "it": "mb-it3", "de": "mb-de2",
    "pt": "mb-br1", "pl": "mb-pl1", "cs": "mb-cz2", "hr": "mb-cr1", "ro": "mb-ro1",
    "nl": "mb-nl2",
}

# Synthetic voices: language -> MBROLA voices to train on, and those held out for validation.
TRAIN_VOICES: dict[str, tuple[str, ...]] = {
    "es": ("mb-es1", "mb-mx1", "mb-vz1"),
    "fr": ("mb-fr1", "mb-fr2", "mb-fr4", "mb-fr6", "mb-ca1"),
    "it": ("mb-it1", "mb-it2", "mb-it3"),
    "en": ("mb-us1", "mb-us2", "mb-en1"),
    "de": ("mb-de2", "mb-de4"), "pl": ("mb-pl1",), "cs": ("mb-cz2",), "hr": ("mb-cr1",),
    "ro": ("mb-ro1",), "pt": ("mb-br1",), "nl": ("mb-nl2",),
}
# Natural-sounding English voices with exact timing (synth.py), trained on as well.
EXTRA_TRAIN_VOICES: dict[str, tuple[str, ...]] = {
    "en": ("flite-slt", "flite-rms", "flite-awb", "festival-slt-hts"),
}
HELDOUT_VOICES: dict[str, tuple[str, ...]] = {
    "es": ("mb-es2", "mb-mx2"), "fr": ("mb-fr7", "mb-ca2"), "it": ("mb-it4",),
    "en": ("mb-us3",),
}


@dataclass(frozen=True)
class AlignerConfig:
    """The phone model's dimensions and frontend; saved inside the checkpoint."""

    sample_rate: int = vocab.SAMPLE_RATE
    hop: int = vocab.HOP_SAMPLES  # samples per frame (10 ms)
    win: int = 400  # analysis window, samples (25 ms), centred on each frame's centre
    n_fft: int = 512
    n_mels: int = 64
    fmin: float = 60.0  # Hz
    fmax: float = 7600.0  # Hz
    channels: int = 128  # conv width
    kernel: int = 5  # conv kernel, frames
    conv_layers: int = 4
    hidden: int = 96  # GRU units per direction
    gru_layers: int = 1
    dropout: float = 0.1
    phones: tuple[str, ...] = tuple(p.symbol for p in INVENTORY)  # output order (P)
    version: int = CHECKPOINT_VERSION

    def __post_init__(self):
        if self.sample_rate % self.hop:
            raise ValueError("AlignerConfig.hop must divide sample_rate")
        if not 0 < self.fmin < self.fmax <= self.sample_rate / 2:
            raise ValueError("AlignerConfig: need 0 < fmin < fmax <= sample_rate / 2")
        unknown = [p for p in self.phones if p not in PHONE_INDEX]
        if unknown:
            raise ValueError(f"AlignerConfig.phones not in the inventory: {unknown}")


# ---- frontend and model (torch) ------------------------------------------------------------

def _torch():
    try:
        import torch
    except ImportError:
        raise ImportError("the phone aligner needs torch: pip install -e '.[train]'") from None
    return torch


def mel_filterbank(cfg: AlignerConfig) -> np.ndarray:
    """(n_mels, n_fft // 2 + 1) triangular HTK-mel filters, each normalised to unit area."""
    def mel(f):
        return 2595.0 * np.log10(1.0 + np.asarray(f) / 700.0)
    edges = 700.0 * (10 ** (np.linspace(mel(cfg.fmin), mel(cfg.fmax), cfg.n_mels + 2) / 2595.0) - 1)
    freqs = np.linspace(0, cfg.sample_rate / 2, cfg.n_fft // 2 + 1)
    lo, mid, hi = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    fb = np.maximum(0, np.minimum((freqs - lo) / (mid - lo), (hi - freqs) / (hi - mid)))
    return (fb / np.maximum(fb.sum(1, keepdims=True), 1e-9)).astype(np.float32)


def num_frames(num_samples: int, hop: int = vocab.HOP_SAMPLES) -> int:
    """T frames covering S samples (the last one may be partial), as Utterance.num_frames."""
    return -(-num_samples // hop)


def _build_model(cfg: AlignerConfig):
    torch = _torch()
    nn = torch.nn

    class PhoneNet(nn.Module):
        """audio B x S -> logits B x T x P; frame t's window is centred on sample t*hop+hop/2."""

        def __init__(self, c: AlignerConfig):
            super().__init__()
            self.cfg = c
            self.register_buffer("fb", torch.from_numpy(mel_filterbank(c)), persistent=False)
            self.register_buffer("window", torch.hann_window(c.win), persistent=False)
            layers, cin = [], c.n_mels
            for _ in range(c.conv_layers):
                layers += [nn.Conv1d(cin, c.channels, c.kernel, padding=c.kernel // 2),
                           nn.BatchNorm1d(c.channels), nn.ReLU(), nn.Dropout(c.dropout)]
                cin = c.channels
            self.conv = nn.Sequential(*layers)
            self.gru = nn.GRU(c.channels, c.hidden, c.gru_layers, batch_first=True,
                              bidirectional=True, dropout=c.dropout if c.gru_layers > 1 else 0)
            self.out = nn.Linear(2 * c.hidden, len(c.phones))

        def features(self, audio):
            c = self.cfg
            S = audio.shape[1]
            T = num_frames(S, c.hop)
            left = c.n_fft // 2 - c.hop // 2  # window centre of frame t at t*hop + hop/2
            right = (T - 1) * c.hop + c.n_fft - left - S
            x = torch.nn.functional.pad(audio, (left, max(right, 0)))
            spec = torch.stft(x, c.n_fft, c.hop, c.win, self.window, center=False,
                              return_complex=True)[..., :T]  # B x F x T
            mel = torch.matmul(self.fb, spec.abs() ** 2)  # B x n_mels x T
            logmel = torch.log(mel + 1e-8)
            # per-utterance mean/variance per band: removes the channel (mic, telephone EQ)
            mu = logmel.mean(-1, keepdim=True)
            sd = logmel.std(-1, keepdim=True).clamp_min(0.5)
            return (logmel - mu) / sd

        def forward(self, audio):
            h = self.conv(self.features(audio))  # B x C x T
            h, _ = self.gru(h.transpose(1, 2))  # B x T x 2H
            return self.out(h)  # B x T x P

    return PhoneNet(cfg)


class PhoneModel:
    """A trained phone model with its config and the phone prior used to turn posteriors into
    alignment scores. Thread-safe for inference (no state between calls)."""

    def __init__(self, net, cfg: AlignerConfig, log_prior: np.ndarray, meta: dict | None = None):
        self.net, self.cfg, self.meta = net.eval(), cfg, meta or {}
        self.log_prior = np.asarray(log_prior, dtype=np.float32)  # P

    @classmethod
    def load(cls, path: str | Path = DEFAULT_WEIGHTS) -> "PhoneModel":
        torch = _torch()
        path = Path(path)
        if not path.exists():
            raise FileNotFoundError(f"no aligner weights at {path}: train them with "
                                    "`python -m facestream.training.corpus.ctc_align train`")
        ck = torch.load(path, map_location="cpu", weights_only=False)
        if ck.get("kind") != "facestream-phone-aligner" or ck.get("version") != CHECKPOINT_VERSION:
            raise ValueError(f"{path} is not a version-{CHECKPOINT_VERSION} facestream phone "
                             f"aligner checkpoint (kind={ck.get('kind')}, version={ck.get('version')})")
        cfg = AlignerConfig(**{**ck["config"], "phones": tuple(ck["config"]["phones"])})
        net = _build_model(cfg)
        net.load_state_dict({k: v.float() for k, v in ck["state_dict"].items()})
        return cls(net, cfg, np.asarray(ck["log_prior"]), ck.get("meta"))

    def save(self, path: str | Path, meta: dict | None = None) -> None:
        torch = _torch()
        state = {k: (v.half() if v.is_floating_point() else v)
                 for k, v in self.net.state_dict().items()}  # float16: half the file
        torch.save({"kind": "facestream-phone-aligner", "version": CHECKPOINT_VERSION,
                    "config": asdict(self.cfg), "state_dict": state,
                    "log_prior": self.log_prior.tolist(), "meta": meta or self.meta}, path)

    def log_posteriors(self, audio: np.ndarray) -> np.ndarray:
        """audio S float32 mono at 16 kHz -> T x P log posteriors."""
        torch = _torch()
        audio = _check_audio(audio)
        with torch.inference_mode():
            logits = self.net(torch.from_numpy(audio)[None])[0]
            return torch.log_softmax(logits.float(), -1).numpy()


def _check_audio(audio) -> np.ndarray:
    a = np.asarray(audio)
    if a.ndim != 1:
        raise ValueError(f"expected mono audio (S,) at {vocab.SAMPLE_RATE} Hz, got shape {a.shape}: "
                         "average the channels")
    if a.size < 3 * vocab.HOP_SAMPLES:
        raise ValueError(f"audio of {a.size} samples is too short to align: need at least 30 ms")
    if a.dtype == np.int16:
        a = a / 32768.0
    return np.ascontiguousarray(a, dtype=np.float32)


# ---- Viterbi forced alignment (numpy) -------------------------------------------------------

def viterbi(emit: np.ndarray, states: list[int], optional: list[bool]) -> np.ndarray:
    """Best monotonic path through `states` given frame scores.

    emit: T x P frame log-scores; states: N phone indices in order; optional: N flags, a
    state that may be skipped (silences). Each visited state takes >= 1 frame. Returns the
    state index (0..N-1) of every frame (T,). Raises ValueError when T is shorter than the
    states that cannot be skipped."""
    T, N = emit.shape[0], len(states)
    if N == 0:
        raise ValueError("nothing to align: the phone sequence is empty")
    if len(optional) != N:
        raise ValueError("optional must have one flag per state")
    need = sum(not o for o in optional)
    if T < max(need, 1):
        raise ValueError(f"{T} frames cannot hold {need} phones: audio too short for the text")
    opt = np.asarray(optional, dtype=bool)
    e = emit[:, np.asarray(states)]  # T x N
    neg = -np.inf
    score = np.full(N, neg)
    score[0] = e[0, 0]
    if opt[0] and N > 1:
        score[1] = e[0, 1]
    back = np.zeros((T, N), dtype=np.int8)  # how many states back the best predecessor is
    skip_ok = np.zeros(N, dtype=bool)
    skip_ok[2:] = opt[1:-1]  # j may come from j-2 when j-1 is optional
    for t in range(1, T):
        stay = score
        step = np.concatenate(([neg], score[:-1]))
        skip = np.where(skip_ok, np.concatenate(([neg, neg], score[:-2])), neg)
        best = np.maximum(stay, np.maximum(step, skip))
        back[t] = np.where(best == stay, 0, np.where(best == step, 1, 2))
        score = best + e[t]
    end = N - 1
    if N > 1 and opt[-1] and score[N - 2] > score[N - 1]:
        end = N - 2
    if not np.isfinite(score[end]):
        raise ValueError("no alignment path: audio too short for the text")
    path = np.empty(T, dtype=np.int64)
    j = end
    for t in range(T - 1, -1, -1):
        path[t] = j
        j -= int(back[t, j])
    return path


@dataclass
class Alignment:
    phones: list[PhoneSeg]  # contiguous, covering the audio
    confidence: float  # mean over frames of posterior(forced phone) / max posterior, 0..1
    frame_phones: np.ndarray = field(repr=False)  # T int indices into INVENTORY


class Aligner:
    """Forced alignment with a `PhoneModel`: `align(audio, phones)`, `align_text(audio, text,
    language)`."""

    def __init__(self, model: PhoneModel | None = None, prior_scale: float = 0.5):
        self.model = model or PhoneModel.load()
        self.prior_scale = prior_scale  # how much of the prior to divide out (0 = posteriors)
        self._col = np.array([self.model.cfg.phones.index(p.symbol) for p in INVENTORY])

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
        audio = _check_audio(audio)
        if logp is None:
            logp = self.log_posteriors(audio)  # T x P, inventory order
        emit = logp - self.prior_scale * self.model.log_prior[self._col]
        path = viterbi(emit, states, optional)
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


def speakable(text: str) -> str:
    """Drop typography a reader does not pronounce but espeak-ng would ("1 / 2" -> "slash",
    a spaced dash, quotes and guillemets)."""
    t = re.sub(r"[\"“”«»„]", " ", text)
    t = re.sub(r"\s[-–—/]+\s", ", ", t)
    return " ".join(t.split())


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


# ---- phonemisation (espeak-ng) ---------------------------------------------------------------

# espeak-ng's IPA (`--ipa`) for the languages not read through an MBROLA voice (es, ru).
# phone_maps has no espeak engine yet; this table follows its rules (palatalised consonants
# -> plain, n' -> ny; long -> short; trill r -> rr, tap -> dx; Spanish b/d/g approximants
# as MBROLA's B/D/G) and should move there.
ESPEAK_IPA: dict[str, tuple[str, ...]] = {
    "i": ("iy",), "ɪ": ("ih",), "ɪ^": ("ih",), "e": ("ey",), "ɛ": ("eh",), "æ": ("ae",),
    "a": ("a",), "ɑ": ("aa",), "ʌ": ("ah",), "ɐ": ("ah",), "ə": ("ax",), "o": ("oh",),
    "ɔ": ("ao",), "ɔː": ("ao",), "u": ("uw",), "uː": ("uw",), 'u"': ("uw",), "ʊ": ("uh",),
    "ɵ": ("oe",), "ø": ("oe",), "ɨ": ("ix",), "aɪ": ("ay",), "eɪ": ("ey",), "əʊ": ("ow",),
    "aʊ": ("aw",), "oɪ": ("oy",), "β": ("b",), "ð": ("dh",), "ɣ": ("g",), "ʝ": ("j",),
    "ɲ": ("ny",), "ʎ": ("ly",), "θ": ("th",),
    "ja": ("j", "a"), "ju": ("j", "uw"), "jo": ("j", "oh"), "je": ("j", "ey"), "əl": ("ax", "l"),
    "p": ("p",), "b": ("b",), "t": ("t",), "d": ("d",), "k": ("k",), "ɡ": ("g",), "g": ("g",),
    "m": ("m",), "n": ("n",), "nʲ": ("ny",), "ŋ": ("ng",), "f": ("f",), "v": ("v",),
    "s": ("s",), "z": ("z",), "ʃ": ("sh",), "ʂ": ("sh",), "ʒ": ("zh",), "ʐ": ("zh",),
    "ɕ": ("sh",), "ʑ": ("zh",), "x": ("x",), "h": ("hh",), "j": ("j",),
    "l": ("l",), "ɫ": ("l",), "ɭ": ("l",), "r": ("rr",), "ɾ": ("dx",), "ɹ": ("r",),
    "ts": ("ts",), "tʃ": ("ch",), "tɕ": ("ch",), "dʒ": ("jh",), "w": ("w",),
}
# Language-specific readings of espeak-ng's IPA ("y" is its Russian ы, not [y]).
ESPEAK_IPA_LANG: dict[str, dict[str, tuple[str, ...]]] = {"ru": {"y": ("ix",)}}


def _espeak_ipa(symbol: str, language: str) -> tuple[str, ...]:
    sym = symbol.replace("ˈ", "").replace("ˌ", "")
    if not sym or re.fullmatch(r"\([a-z-]+\)", sym):  # language-switch marks "(en)"
        return ()
    table = ESPEAK_IPA_LANG.get(language, {})
    for key in (sym, sym.replace("ʲ", ""), sym.replace("ː", ""),
                sym.replace("ʲ", "").replace("ː", "")):
        if key in table:
            return table[key]
        if key in ESPEAK_IPA:
            return ESPEAK_IPA[key]
    raise ValueError(f"espeak-ng IPA phone {symbol!r} ({language}) has no inventory mapping: "
                     "add it to ctc_align.ESPEAK_IPA")


def _to_inventory(engine: str, symbol: str, voice: str) -> list[str]:
    from .. import phone_maps
    out = phone_maps.to_inventory(engine, symbol, voice)
    return [out] if isinstance(out, str) else list(out)


def parse_pho(text: str, voice: str) -> list[PhoneSeg]:
    """An MBROLA .pho (espeak-ng --pho) of `voice` ("mb-es1") -> inventory segments with its
    exact timing.

    A symbol that maps to two inventory phones (an affricate written as one) is split in
    half; "_" is silence."""
    segs: list[PhoneSeg] = []
    t = 0.0
    for line in text.splitlines():
        parts = line.split()
        if not parts or line.startswith(";"):
            continue
        dur = float(parts[1]) / 1000.0
        phones = [SILENCE] if parts[0] == "_" else _to_inventory("mbrola", parts[0], voice)
        for i, p in enumerate(phones):
            a, b = t + dur * i / len(phones), t + dur * (i + 1) / len(phones)
            if segs and segs[-1].phone == p == SILENCE:
                segs[-1].end = b
            elif b > a:
                segs.append(PhoneSeg(a, b, p))
        t += dur
    return segs


@lru_cache(maxsize=4096)
def _espeak(args: tuple[str, ...], text: str) -> str:
    # text on stdin: a sentence starting with "-" would otherwise read as an option
    res = subprocess.run(["espeak-ng", *args], input=text, capture_output=True, text=True)
    if res.returncode != 0:
        raise RuntimeError(f"espeak-ng {' '.join(args)} failed: {res.stderr.strip()}")
    return res.stdout


def _pho_phones(pho: str, voice: str) -> list[str]:
    return [g.phone for g in parse_pho(pho, voice)]


def _match(a: list[str], b: list[str]) -> list[int]:
    """For each item of `a`, the index in `b` it aligns to under edit distance (a deletion
    takes the previous match)."""
    n, m = len(a), len(b)
    d = np.zeros((n + 1, m + 1), dtype=np.int32)
    d[:, 0], d[0, :] = np.arange(n + 1), np.arange(m + 1)
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            d[i, j] = min(d[i - 1, j] + 1, d[i, j - 1] + 1, d[i - 1, j - 1] + (a[i - 1] != b[j - 1]))
    out = [0] * n
    i, j = n, m
    while i > 0:
        if j > 0 and d[i, j] == d[i - 1, j - 1] + (a[i - 1] != b[j - 1]):
            out[i - 1] = j - 1
            i, j = i - 1, j - 1
        elif j > 0 and d[i, j] == d[i, j - 1] + 1:
            j -= 1
        else:
            out[i - 1] = max(j - 1, 0)
            i -= 1
    return out


def phonemize(text: str, language: str) -> list[list[str]]:
    """Text -> one list of inventory phones per word (espeak-ng's reading, numbers included).

    Languages with an MBROLA phonemiser voice (PHONEMISER_VOICE) go through its --pho
    symbols. --pho marks no word boundaries, so the text is read a second time with a break
    after every word and the two phone strings are matched: the words come from the second
    reading, the phones (with liaison and sandhi) from the first. Other languages use
    espeak-ng's IPA (`--ipa`, which keeps the words) through ESPEAK_IPA."""
    if not text or not text.strip():
        raise ValueError("nothing to phonemise: empty text")
    if language in PHONEMISER_VOICE:
        voice = PHONEMISER_VOICE[language]
        plain = _pho_phones(_espeak(("-v", voice, "--pho", "-q"), text), voice)
        toks = [t for t in text.split() if re.search(r"\w", t)]
        ssml = "<speak>" + "<break time=\"1ms\"/> ".join(
            t.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;") for t in toks) + "</speak>"
        broken = _pho_phones(_espeak(("-m", "-v", voice, "--pho", "-q"), ssml), voice)
        word_of, w, prev_sil = [], 0, True
        for p in broken:
            if p == SILENCE:
                prev_sil = True
                continue
            if prev_sil and word_of:
                w += 1
            prev_sil = False
            word_of.append(w)
        speech_b = [p for p in broken if p != SILENCE]
        speech_a = [p for p in plain if p != SILENCE]
        match = _match(speech_a, speech_b) if speech_b else [0] * len(speech_a)
        words: list[list[str]] = []
        k, last_word, after_pause = 0, None, False
        for p in plain:
            if p == SILENCE:
                after_pause = True
                continue
            wi = word_of[match[k]] if word_of else 0
            if not words or after_pause or wi != last_word:
                words.append([])
            words[-1].append(p)
            last_word, after_pause, k = wi, False, k + 1
    else:
        words = []
        out = _espeak(("-v", IPA_VOICE.get(language, language), "-q", "--ipa", "--sep=_"), text)
        for w in out.split():
            phones = [p for sym in w.split("_") for p in _espeak_ipa(sym, language)]
            if phones:
                words.append(phones)
    if not words:
        raise ValueError(f"espeak-ng found nothing to say in {text!r} ({language})")
    return words


# ---- synthetic speech with exact timing (MBROLA) ---------------------------------------------

def _mbrola_database_file(voice: str) -> Path:
    from ..phone_maps import mbrola_database
    db = mbrola_database(voice)
    path = Path("/usr/share/mbrola") / db / db
    if not path.exists():
        raise FileNotFoundError(f"MBROLA database {path} missing: run make data-deps")
    return path


def _clone_args(voice: str) -> list[str]:
    """mbrola -C for synth.MBROLA_RENAMES: "-C 'e e/'" lets database phone e also answer to
    espeak-ng's e/. (mbrola -R renames the database's own phone, so e itself goes missing.)"""
    from ..phone_maps import mbrola_database
    from .synth import MBROLA_RENAMES
    ren = MBROLA_RENAMES.get(mbrola_database(voice), {})
    return ["-C", " ".join(f"{b} {a}" for a, b in ren.items())] if ren else []


def synth_mbrola(voice: str, text: str, speed: float = 1.0, pitch: float = 1.0) -> Utterance | None:
    """espeak-ng + MBROLA `voice` ("mb-fr1") reading `text` -> Utterance with the .pho's exact
    timing, or None when MBROLA lacks a diphone the text needs (it would put silence where
    the .pho says speech). speed scales espeak-ng's 175 words/min; pitch MBROLA's F0."""
    from scipy.signal import resample_poly
    pho = _espeak(("-v", voice, "-s", str(int(round(175 * speed))), "--pho", "-q"), text)
    if not pho.strip():
        return None
    res = subprocess.run(["mbrola", "-e", "-f", f"{pitch:.3f}", *_clone_args(voice),
                          str(_mbrola_database_file(voice)), "-", "-.wav"],
                         input=pho.encode(), capture_output=True)
    if res.returncode != 0 or b"unknown" in res.stderr or len(res.stdout) <= 44:
        return None
    rate = int.from_bytes(res.stdout[24:28], "little")
    audio = np.frombuffer(res.stdout[44:], dtype="<i2").astype(np.float32) / 32768.0
    if rate != vocab.SAMPLE_RATE:
        g = math.gcd(rate, vocab.SAMPLE_RATE)
        audio = resample_poly(audio, vocab.SAMPLE_RATE // g, rate // g).astype(np.float32)
    try:
        segs = parse_pho(pho, voice)
    except ValueError:
        return None
    dur = audio.size / vocab.SAMPLE_RATE
    if not segs or abs(segs[-1].end - dur) > 0.03:
        return None
    segs = [s for s in segs if s.start < dur]
    segs[-1].end = dur
    peak = float(np.abs(audio).max())
    if peak > 1.0:
        audio /= peak
    digest = hashlib.sha1(text.encode("utf-8")).hexdigest()[:12]
    return Utterance(uid=f"mbrola/{voice}/{digest}/s{speed:.2f}-p{pitch:.2f}",
                     audio=audio, phones=segs, source="mbrola", voice=voice,
                     language=_voice_language(voice), text=text,
                     meta={"speed": speed, "pitch": pitch})


def _voice_language(voice: str) -> str:
    for lang, vs in {**TRAIN_VOICES, **HELDOUT_VOICES}.items():
        if voice in vs:
            return lang
    from ..phone_maps import MBROLA_DATABASES, mbrola_database
    return MBROLA_DATABASES[mbrola_database(voice)][0]


def _synth_job(job):
    voice, texts_, speeds, pitches, per_voice = job
    out = []
    for text, sp, pi in zip(texts_, speeds, pitches):
        try:
            if voice.startswith("mb-"):
                u = synth_mbrola(voice, text, sp, pi)
            else:
                from .synth import synthesize
                u = synthesize(voice, text, rate=sp, pitch=pi)
        except (RuntimeError, ValueError):
            continue
        if u is not None and u.duration < 12.0:
            out.append(u)
            if len(out) == per_voice:
                break
    return out


def synth_set(voices: dict[str, tuple[str, ...]], per_voice: int, seed: int,
              sentence_offset: int = 0, workers: int = 2) -> list[Utterance]:
    """Up to `per_voice` utterances for each voice: sentences from texts.sentences(language),
    speed 0.75-1.35 and pitch 0.8-1.25 drawn with `seed`. Sentences that need a diphone the
    database lacks are skipped (up to 3x per_voice are tried)."""
    from . import texts
    rng = np.random.default_rng(seed)
    jobs = []
    for lang, vs in voices.items():
        pool = texts.sentences(lang, None, seed=seed)
        for vi, voice in enumerate(vs):
            n = per_voice * 3
            start = sentence_offset + vi * n
            jobs.append((voice, [pool[(start + k) % len(pool)] for k in range(n)],
                         rng.uniform(0.75, 1.35, n).tolist(), rng.uniform(0.8, 1.25, n).tolist(),
                         per_voice))
    if workers > 1:
        import multiprocessing as mp
        with mp.get_context("fork").Pool(workers) as p:
            parts = p.map(_synth_job, jobs, chunksize=1)
    else:
        parts = [_synth_job(j) for j in jobs]
    return [u for part in parts for u in part]


# ---- training ----------------------------------------------------------------------------------

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


def _labelled(utts: list[Utterance], augment: bool, seed: int, copies: int):
    """[(audio S float32, labels T int64)]: clean, plus `copies` augmented versions each."""
    from .augment import AugmentConfig, Augmenter
    aug = Augmenter(AugmentConfig(p_noise=0.5, snr_db=(5.0, 40.0), p_reverb=0.3, p_eq=0.5,
                                  p_telephone=0.1, p_narrowband=0.15, p_resample=0.1,
                                  p_clip=0.03, p_quantize=0.05))
    rng = np.random.default_rng(seed)
    out = []
    for u in utts:
        labels = segments_to_frames(u.phones, u.num_frames())
        out.append((u.audio, labels))
        if augment:
            for _ in range(copies):
                out.append((aug(u.audio, rng).audio, labels))
    return out


def _batch(data, idx, crop: int, rng):
    """Random crops of `crop` frames (shorter items padded with quiet noise labelled sil)."""
    torch = _torch()
    hop = vocab.HOP_SAMPLES
    xs = np.zeros((len(idx), crop * hop), dtype=np.float32)
    ys = np.full((len(idx), crop), PHONE_INDEX[SILENCE], dtype=np.int64)
    for b, i in enumerate(idx):
        audio, labels = data[i]
        T = len(labels)
        if T > crop:
            t0 = int(rng.integers(0, T - crop + 1))
            seg = audio[t0 * hop:(t0 + crop) * hop]
            xs[b, :seg.size] = seg
            ys[b] = labels[t0:t0 + crop]
        else:
            off = int(rng.integers(0, crop - T + 1))
            xs[b] = rng.normal(0, 10 ** rng.uniform(-5, -3), crop * hop)
            xs[b, off * hop:off * hop + audio.size] += audio
            ys[b, off:off + T] = labels
        xs[b] *= 10 ** rng.uniform(-1.0, 0.3)
    return torch.from_numpy(xs), torch.from_numpy(ys)


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


# ---- evaluation --------------------------------------------------------------------------------

def boundary_errors(ref: list[PhoneSeg], hyp: list[PhoneSeg]) -> np.ndarray:
    """|hyp - ref| seconds at the start and end of every non-silence phone, the two
    sequences holding the same non-silence phones in the same order."""
    r = [s for s in ref if s.phone != SILENCE]
    h = [s for s in hyp if s.phone != SILENCE]
    if [s.phone for s in r] != [s.phone for s in h]:
        raise ValueError("boundary_errors needs the same phone sequence on both sides")
    return np.abs(np.array([[a.start - b.start, a.end - b.end] for a, b in zip(r, h)])).ravel()


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


def evaluate_heldout(aligner: Aligner, per_voice: int = 30, seed: int = 1,
                     augment: bool = False, voices: dict | None = None) -> dict:
    """Mean/median boundary error (ms) on held-out MBROLA voices, aligning along the true
    phone sequence (word breaks where the .pho pauses)."""
    utts = synth_set(voices or HELDOUT_VOICES, per_voice, seed, sentence_offset=5000)
    if augment:
        data = _labelled(utts, True, seed, 1)[1::2]
        audios = [a for a, _ in data]
    else:
        audios = [u.audio for u in utts]
    per_voice_err: dict[str, list] = {}
    confs = []
    for u, a in zip(utts, audios):
        al = aligner.align_detailed(a, words_of(u.phones))
        per_voice_err.setdefault(u.voice, []).append(boundary_errors(u.phones, al.phones))
        confs.append(al.confidence)
    rep = {v: {"utterances": len(e), "mean_ms": 1000 * float(np.concatenate(e).mean()),
               "median_ms": 1000 * float(np.median(np.concatenate(e))),
               "within_20ms": float((np.concatenate(e) <= 0.02).mean())}
           for v, e in per_voice_err.items()}
    allerr = np.concatenate([x for e in per_voice_err.values() for x in e])
    rep["all"] = {"utterances": len(utts), "mean_ms": 1000 * float(allerr.mean()),
                  "median_ms": 1000 * float(np.median(allerr)),
                  "within_20ms": float((allerr <= 0.02).mean()),
                  "mean_confidence": float(np.mean(confs))}
    return rep


def matched_boundary_errors(ref: list[PhoneSeg], hyp: list[PhoneSeg]) -> np.ndarray:
    """|hyp - ref| seconds at the start and end of each non-silence phone that the two
    (possibly different) phone strings share, matched by edit distance."""
    r = [s for s in ref if s.phone != SILENCE]
    h = [s for s in hyp if s.phone != SILENCE]
    if not r or not h:
        return np.zeros(0)
    m = _match([s.phone for s in r], [s.phone for s in h])
    errs = [abs(a.start - h[j].start) for a, j in zip(r, m) if a.phone == h[j].phone]
    errs += [abs(a.end - h[j].end) for a, j in zip(r, m) if a.phone == h[j].phone]
    return np.array(errs)


def english_split(part: str, sphinx_utts: list[Utterance] | None = None) -> list[Utterance]:
    """The English Asterisk prompts pocketsphinx aligns, split in two halves by a hash of the
    prompt id: "train" (the aligner may learn from them) or "heldout" (for evaluation)."""
    import zlib
    if part not in ("train", "heldout"):
        raise ValueError(f"part must be 'train' or 'heldout', got {part!r}")
    from .align_sphinx import align_prompts
    from .asterisk import list_prompts

    def is_train(pid: str) -> bool:
        return zlib.crc32(pid.encode()) % 2 == 0

    if sphinx_utts is not None:
        return [u for u in sphinx_utts if is_train(u.uid.split("/en/", 1)[1]) == (part == "train")]
    prompts = [p for p in list_prompts("en") if is_train(p.id) == (part == "train")]
    return align_prompts(prompts)[0]


def evaluate_english(aligner: Aligner, sphinx_utts=None) -> dict:
    """Boundary differences (ms) from pocketsphinx on English Asterisk prompts (default: the
    held-out half of `english_split`, which the aligner did not train on), two ways:
    "same_phones" aligns pocketsphinx's own phone string (pure boundary placement);
    "espeak_phones" aligns espeak-ng's reading, as for other languages, and compares the
    phones both strings share. "kept" repeats the latter for the prompts that pass
    `transcript_margins` (as align_asterisk keeps them)."""
    if sphinx_utts is None:
        sphinx_utts = english_split("heldout")
    same, esp, items = [], [], []
    for u in sphinx_utts:
        try:
            logp = aligner.log_posteriors(u.audio)
            a = aligner.align_detailed(u.audio, words_of(u.phones), logp=logp)
            b = aligner.align_detailed(u.audio, phonemize(speakable(u.text), "en"), logp=logp)
        except (ValueError, RuntimeError):
            continue
        same.append(boundary_errors(u.phones, a.phones))
        esp.append(matched_boundary_errors(u.phones, b.phones))
        items.append((logp, words_of(u.phones), b.confidence))
    keep = transcript_margins(aligner, items) > 0

    def stats(errs):
        e = np.concatenate(errs) if errs else np.zeros(0)
        return {"mean_ms": round(1000 * float(e.mean()), 2),
                "median_ms": round(1000 * float(np.median(e)), 2),
                "within_20ms": round(float((e <= 0.02).mean()), 3), "boundaries": int(e.size)}

    return {"prompts": len(items), "same_phones": stats(same), "espeak_phones": stats(esp),
            "kept_prompts": int(keep.sum()),
            "kept": stats([e for e, k in zip(esp, keep) if k]),
            "dropped": stats([e for e, k in zip(esp, keep) if not k])}


# ---- Asterisk prompts ----------------------------------------------------------------------------

def transcript_margins(aligner: Aligner, items: list[tuple], k: int = WRONG_TEXTS,
                       seed: int = 0) -> np.ndarray:
    """For each prompt, its confidence minus the best confidence its audio reaches when
    aligned to `k` other prompts' transcripts of similar phone count (within 20%).

    items: [(logp T x P, words, confidence)] of one voice's prompts. A margin > 0 means the
    true transcript beat all k wrong ones (a wrong text does so with probability
    1/(k+1)); NaN where no other prompt has a similar length. How high a wrong text scores
    depends on the language, the speaker and the prompt, so this rank test needs no
    threshold tuned per language."""
    rng = np.random.default_rng(seed)
    sizes = np.array([sum(len(w) for w in words) for _, words, _ in items])
    out = np.full(len(items), np.nan)
    for i, (logp, _, conf) in enumerate(items):
        near = np.flatnonzero((np.abs(sizes - sizes[i]) <= max(2, sizes[i] // 5))
                              & (np.arange(len(items)) != i))
        best = None
        silent = np.zeros(logp.shape[0] * vocab.HOP_SAMPLES, np.float32)  # unused: logp given
        for j in rng.choice(near, min(k, near.size), replace=False):
            try:
                c = aligner.align_detailed(silent, items[int(j)][1], logp=logp).confidence
            except ValueError:  # the other text needs more frames than this audio has
                continue
            best = c if best is None else max(best, c)
        if best is not None:
            out[i] = conf - best
    return out


def align_prompts(prompts, aligner: Aligner | None = None, threshold: float | None = None,
                  keep_all: bool = False, report: dict | None = None, log=None) -> list[Utterance]:
    """Align Asterisk `Prompt`s (any non-English voices) along espeak-ng's reading of their
    transcripts -> the kept Utterances (source "asterisk"), in prompt order per voice.

    Kept: prompts whose transcript beats WRONG_TEXTS other transcripts of the same voice on
    their own audio (`transcript_margins` > 0), or, given `threshold`, those with confidence
    >= threshold. keep_all returns the rest too. Each utterance carries meta["confidence"],
    ["margin"] and ["kept"]; `report`, if given, is filled per voice with prompts, minutes,
    aligned, failed, kept and kept_minutes."""
    from .asterisk import load_prompt
    aligner = aligner or Aligner()
    by_voice: dict[str, list] = {}
    for p in prompts:
        by_voice.setdefault(p.voice, []).append(p)
    utts: list[Utterance] = []
    for voice, group in by_voice.items():
        r = {"prompts": len(group), "minutes": 0.0, "aligned": 0, "failed": 0, "kept": 0,
             "kept_minutes": 0.0}
        done = []
        for p in group:
            try:
                audio, text = load_prompt(p)
            except (FileNotFoundError, RuntimeError):  # an undecodable file: lose the prompt
                r["failed"] += 1
                continue
            r["minutes"] += audio.size / vocab.SAMPLE_RATE / 60
            try:
                words = phonemize(speakable(text), p.language)
                logp = aligner.log_posteriors(audio)
                al = aligner.align_detailed(audio, words, logp=logp)
            except (ValueError, RuntimeError):
                r["failed"] += 1
                continue
            done.append((p, audio, text, words, logp, al))
        r["aligned"] = len(done)
        margins = transcript_margins(aligner, [(d[4], d[3], d[5].confidence) for d in done])
        for (p, audio, text, _, _, al), margin in zip(done, margins):
            kept = bool(al.confidence >= threshold if threshold is not None else margin > 0)
            r["kept"] += int(kept)
            r["kept_minutes"] += kept * audio.size / vocab.SAMPLE_RATE / 60
            if kept or keep_all:
                utts.append(Utterance(
                    uid=f"asterisk/{p.voice}/{p.language}/{p.id}", audio=audio, phones=al.phones,
                    source="asterisk", voice=p.voice, language=p.language, text=text,
                    meta={"aligner": "ctc", "confidence": al.confidence,
                          "margin": float(margin), "kept": kept}))
        r["minutes"], r["kept_minutes"] = round(r["minutes"], 2), round(r["kept_minutes"], 2)
        if report is not None:
            report[voice] = r
        if log:
            log(voice, r)
    return utts


def align_asterisk(language: str | None = None, aligner: Aligner | None = None,
                   threshold: float | None = None, keep_all: bool = False, log=None):
    """`align_prompts` over every installed prompt of `language` (default: es, fr, it, ru)
    -> (utterances, report per voice)."""
    from .asterisk import list_prompts
    langs = [language] if language else ["es", "fr", "it", "ru"]
    prompts = [p for lang in langs for p in list_prompts(lang)]
    report: dict = {}
    utts = align_prompts(prompts, aligner, threshold, keep_all, report, log)
    return utts, report


def _main(argv: list[str]) -> None:
    import json
    cmd = argv[0] if argv else "eval"
    if cmd == "train":
        train_aligner()
        return
    aligner = Aligner()
    if cmd == "eval":
        print(json.dumps(evaluate_heldout(aligner), indent=1))
    elif cmd == "english":
        print(json.dumps(evaluate_english(aligner), indent=1))
    elif cmd == "asterisk":
        _, rep = align_asterisk(argv[1] if len(argv) > 1 else None)
        print(json.dumps(rep, indent=1))
    else:
        raise SystemExit(f"unknown command {cmd!r}: expected train, eval, english or asterisk")


if __name__ == "__main__":
    _main(sys.argv[1:])

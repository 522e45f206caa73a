"""Speech with exact phone timing from the offline synthesisers Debian ships.

Engines (each gives the time of every phone it synthesised, not an alignment):
  mbrola   espeak-ng -v mb-XX --pho writes phones with durations (ms) and pitch targets;
           mbrola renders exactly those durations (x its -t ratio). Boundaries are the
           cumulative durations, stretched by at most 0.5% so the last one is the wav's end
           (22.05 kHz databases round pitch periods: ~0.3 ms drift per second).
  flite    `flite -psdur` prints each phone's end time; for slt/rms/awb the last one is the
           wav's length (kal and kal16 are off by ~120 ms and are not offered).
  festival HTS voices (festvox-us-slt-hts): the Segment relation's end times after synthesis,
           which the HTS engine sets from its state durations (5 ms frames).
Every result is 16 kHz float32 mono (scipy's polyphase resampler, exact rational ratios) with
contiguous inventory phones covering [0, duration]; silences are "sil".

Controls: rate (speed; >1 faster; every engine), pitch (F0 ratio; mbrola -f, flite slt/awb
int_f0_target_mean), quality (formant/voice-quality ratio; mbrola -l only), seed (mbrola
only: 0 is the engine's own prosody, any other value jitters phone durations by ~8% and the
pitch contour by ~6%, reproducibly). What an engine could not apply is in `Utterance.meta`.

MBROLA voices whose database lacks a phone espeak-ng writes get it renamed to the nearest
phone the database has (`MBROLA_RENAMES`, passed as mbrola -C); the label stays the intended
phone. Diphones still missing are rendered as silence by mbrola; their count is
`meta["missing_diphones"]`, and `list_voices(check=True)` drops voices where more than
`MAX_MISSING_DIPHONE_RATE` of the diphones of a few test sentences are missing.

Threading/processes: every function is pure (per-call temp dir, no shared state apart from
read-only caches), so `multiprocessing.Pool.map(functools.partial(synthesize, voice), texts)`
works; each call starts one or two short subprocesses.
"""
from __future__ import annotations

import functools
import glob
import hashlib
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from ... import vocab
from .. import phone_maps
from ..phonemes import SILENCE
from .texts import normalise_language, sentences
from .types import PhoneSeg, Utterance

MBROLA_DIR = "/usr/share/mbrola"
FESTIVAL_VOICE_GLOB = "/usr/share/festival/voices/*/*_hts"
FLITE_VOICES = ("slt", "rms", "awb")  # kal/kal16 timings are off by ~120 ms; awb_time is a clock
# flite's default int_f0_target_mean per voice (Hz), measured; rms ignores the feature.
FLITE_F0_MEAN = {"slt": 170.0, "awb": 130.0}
ESPEAK_DEFAULT_WPM = 175
ESPEAK_WPM_RANGE = (80, 450)
TIMEOUT_S = 60.0  # per subprocess
MAX_DRIFT_S = 0.02  # engine end time vs wav length beyond this (plus 0.5%) is an error
MAX_MISSING_DIPHONE_RATE = 0.02
SMOKE_SENTENCES = 4

# Phones espeak-ng's tables write that a database lacks -> a phone it has (mbrola -C).
MBROLA_RENAMES: dict[str, dict[str, str]] = {
    "us3": {"O2": "O"},
    "af1": {"&:": "&"},
    "ar1": {"R": "G", "gH": "g"},
    "ar2": {"R": "G", "Q": "?"},
    "cz1": {"ts": "c", "n'": "N", "r'": "r\\", "h\\": "h", "t'": "T", "d'": "D", "l^": "l"},
    "cz2": {"l^": "l"},
    "de6": {"u": "u:"},
    "de8": {"pF": "pf", "OY": "OI", "i": "i:", "Y:": "Y", "E2": "E", "UR": "UA", "w": "v",
            "oU": "OU", "O@": "OA", "D": "d", "0": "O", "e@": "eA"},
    "es1": {"e/": "e", "o/": "o"}, "es2": {"e/": "e", "o/": "o"},
    "mx1": {"e/": "e", "o/": "o", "l^": "l"}, "mx2": {"e/": "e", "o/": "o", "l^": "l"},
    "vz1": {"e/": "e", "o/": "o", "l^": "L"},
    "es3": {"h": "H", "R2": "R", "L": "l", "*": "r", "J^": "j", "@-": "e", "S": "s"},
    "es4": {"R2": "r", "*": "r", "@-": "e", "S": "s", "J^": "J"},
    "gr1": {"R": "r", "L": "l", "N": "n", "S": "ts"},
    "hb1": {"?": "_", "Q\"": "_", "l/": "l", "X": "x", "N": "n", "i:": "i", "u:": "u",
            "Z": "z"},
    "hb2": {"Q\"": "_", "l/": "l", "i:": "i", "u:": "u", "r": "R"},
    "hu1": {"l^": "l", "R": "r"},
    "ic1": {"tl#": "t"},
    "in1": {"e~": "e", "a~": "a", "r.": "r", "i~": "ii", "u": "uu", "f": "ph", "z": "j",
            "q": "k"},
    "it1": {"j": "J", "ss": "SS", "tS": "ch", "dZ": "gh", "U1": "U", "ts2": "TS", "d[": "D",
            "eI": "E", "u:": "U"},
    "it3": {"ss": "s", "i/": "i", "ts2": "ts", "d[": "d", "eI": "e", "u:": "u"},
    "jp1": {"?": "_", "l": "rr", "r": "rr", "i:": "i", "U": "u"},
    "ma1": {"o": "@U", "O": "Q", "l/": "l", "l/2": "l", "x": "H", "E2": "e", "i:": "I"},
    "nl3": {"W": "w", "nj": "n"},
    "nz1": {"R": "r", "u\"": "u", "O": "o", "E": "e", "i:": "i"},
    "pl1": {"E#": "e"},
    "pt1": {"oo": "O"},
    "sw2": {"i": "i:"},
    "tl1": {"d.": "d", "v#": "v", "S;": "S", "k#": "k", "b#": "b", "t.": "t", "l/": "l",
            "n.": "n", "l.": "l", "d#": "d", "t#": "t", "p#": "p", "s.": "s", "c#": "c",
            "g#": "g"},
    "tr1": {"&": "e", "l/": "l", "L/": "L"},
}
for _a, _b in (("in2", "in1"), ("it2", "it1"), ("it4", "it3"), ("jp2", "jp1"), ("jp3", "jp1"),
               ("tr2", "tr1")):
    MBROLA_RENAMES[_a] = MBROLA_RENAMES[_b]


class SynthesisError(RuntimeError):
    """An engine failed or returned timings that do not match its audio."""


@dataclass(frozen=True)
class Voice:
    name: str  # "mb-us1", "mb-de4-en", "flite-rms", "festival-slt-hts"
    engine: str  # "mbrola" | "flite" | "festival"
    language: str  # ISO 639-1 of the text it speaks ("en" for mb-de4-en)
    recorded_language: str  # language of the speaker's recordings ("de" for mb-de4-en)
    backend: str  # mbrola: database ("de4"); flite: its voice ("rms"); festival: voice dir
    gender: str = ""  # "M" / "F" where the engine says

    @property
    def native_speaker(self) -> bool:
        return self.language == self.recorded_language


# --- discovery ----------------------------------------------------------------------------

def _run(args, voice_name: str, *, stdin: bytes | None = None, cwd=None,
         timeout: float = TIMEOUT_S):
    try:
        return subprocess.run(args, input=stdin, capture_output=True, timeout=timeout,
                              cwd=cwd, check=False)
    except FileNotFoundError:
        raise SynthesisError(f"{voice_name}: {args[0]} is not installed "
                             "(run scripts/install_data_deps.sh)") from None
    except subprocess.TimeoutExpired:
        raise SynthesisError(f"{voice_name}: {args[0]} took more than {timeout:.0f} s") from None


@functools.lru_cache(maxsize=1)
def espeak_data_dir() -> str | None:
    """espeak-ng's data directory (holds voices/mb and mbrola_ph), or None without espeak-ng."""
    if not shutil.which("espeak-ng"):
        return None
    out = subprocess.run(["espeak-ng", "--version"], capture_output=True, text=True,
                         timeout=TIMEOUT_S).stdout
    m = re.search(r"Data at:\s*(\S+)", out)
    return m.group(1) if m else None


def mbrola_database_path(db: str) -> str | None:
    for p in (os.path.join(MBROLA_DIR, db, db), os.path.join(MBROLA_DIR, db)):
        if os.path.isfile(p):
            return p
    return None


def _mbrola_voices() -> list[Voice]:
    data = espeak_data_dir()
    if data is None or not shutil.which("mbrola"):
        return []
    out = subprocess.run(["espeak-ng", "--voices=mb"], capture_output=True, text=True,
                         timeout=TIMEOUT_S).stdout
    voices = []
    for line in out.splitlines()[1:]:
        cols = line.split()
        if len(cols) < 5 or not cols[4].startswith("mb/"):
            continue
        name, lang, gender = os.path.basename(cols[4]), cols[1], cols[2].split("/")[-1]
        spec = os.path.join(data, "voices", "mb", name)
        try:
            with open(spec, encoding="utf-8", errors="replace") as f:
                m = re.search(r"^mbrola\s+(\S+)\s+(\S+)", f.read(), re.M)
        except OSError:
            continue
        # Keep voices whose database and espeak translation table both exist (mb-cn1
        # names a zh_phtrans that espeak-ng 1.51 does not ship).
        if (not m or mbrola_database_path(m.group(1)) is None
                or not os.path.isfile(os.path.join(data, "mbrola_ph", m.group(2)))
                or m.group(1) not in phone_maps.MBROLA_DATABASES):
            continue
        db = m.group(1)
        recorded = phone_maps.MBROLA_DATABASES[db][0]
        suffix = name.split("-")[2] if name.count("-") >= 2 else ""
        speaks = suffix or normalise_language(lang)
        voices.append(Voice(name, "mbrola", speaks, recorded, db, gender))
    return voices


def _flite_voices() -> list[Voice]:
    if not shutil.which("flite"):
        return []
    out = subprocess.run(["flite", "-lv"], capture_output=True, text=True,
                         timeout=TIMEOUT_S).stdout
    have = set(out.split(":", 1)[-1].split())
    gender = {"slt": "F", "rms": "M", "awb": "M"}
    return [Voice(f"flite-{v}", "flite", "en", "en", v, gender[v])
            for v in FLITE_VOICES if v in have]


def _festival_voices() -> list[Voice]:
    if not shutil.which("festival"):
        return []
    voices = []
    for d in sorted(glob.glob(FESTIVAL_VOICE_GLOB)):
        vd = os.path.basename(d)  # cmu_us_slt_arctic_hts
        m = re.match(r"^[a-z]+_([a-z]{2})_([a-z0-9]+)_.*hts$", vd)
        if not m:
            continue
        lang = {"us": "en", "uk": "en"}.get(m.group(1), m.group(1))
        voices.append(Voice(f"festival-{m.group(2)}-hts", "festival", lang, lang, vd,
                            "F" if m.group(2) == "slt" else ""))
    return voices


@functools.lru_cache(maxsize=2)
def _discover() -> tuple[Voice, ...]:
    return tuple(_mbrola_voices() + _flite_voices() + _festival_voices())


def list_voices(check: bool = False, *, engine: str | None = None) -> list[Voice]:
    """The voices installed on this machine (optionally one engine's).

    check=True also synthesises a few sentences with each and drops voices that fail
    (engine errors, timing mismatch, or too many missing MBROLA diphones); see
    `check_voice` for the reasons."""
    voices = [v for v in _discover() if engine is None or v.engine == engine]
    if check:
        voices = [v for v in voices if not check_voice(v)]
    return voices


def get_voice(name: str) -> Voice:
    """The installed voice called `name`, with an error listing what is installed."""
    for v in _discover():
        if v.name == name:
            return v
    names = [v.name for v in _discover()]
    raise ValueError(f"voice {name!r} is not installed: have {', '.join(names) or 'none'} "
                     "(scripts/install_data_deps.sh installs the engines)")


@functools.lru_cache(maxsize=None)
def check_voice(voice: Voice) -> str:
    """Why `voice` is unusable ("" when it is fine): a smoke test on a few sentences."""
    try:
        texts = sentences(voice.language, SMOKE_SENTENCES, seed=12345)
    except ValueError as e:
        return str(e)
    missing = phones = 0
    for text in texts:
        try:
            utt = synthesize(voice, text)
        except (SynthesisError, ValueError) as e:
            return f"{type(e).__name__}: {e}"
        if utt.duration < 0.3 or float(np.sqrt(np.mean(utt.audio ** 2))) < 1e-3:
            return f"silent or empty audio for {text!r}"
        missing += utt.meta.get("missing_diphones", 0)
        phones += len(utt.phones)
    if phones and missing / phones > MAX_MISSING_DIPHONE_RATE:
        return (f"{missing} of ~{phones} diphones missing from the MBROLA database "
                f"(> {MAX_MISSING_DIPHONE_RATE:.0%}); mbrola renders them as silence")
    return ""


# --- synthesis ----------------------------------------------------------------------------

def synthesize(voice: Voice | str, text: str, *, rate: float = 1.0, pitch: float = 1.0,
               quality: float = 1.0, seed: int = 0) -> Utterance:
    """Speak `text` with `voice`; return 16 kHz audio with exact inventory phone segments.

    rate: speaking-rate ratio (>1 faster); pitch: F0 ratio; quality: formant/voice-quality
    ratio (mbrola -l); seed: mbrola prosody jitter (0 = none). Settings an engine cannot
    apply are recorded as meta["pitch_applied"] / meta["quality_applied"] = False.
    Raises SynthesisError naming the voice when an engine fails, ValueError for bad input."""
    return synthesize_many(voice, [text], rate=rate, pitch=pitch, quality=quality,
                           seed=seed)[0]


def synthesize_many(voice: Voice | str, texts: list[str], *, rate: float = 1.0,
                    pitch: float = 1.0, quality: float = 1.0, seed: int = 0) -> list[Utterance]:
    """`synthesize` for several texts with one voice and one setting. Identical results;
    faster for festival, which then loads its voice once (~1.5 s) instead of per text."""
    v = get_voice(voice) if isinstance(voice, str) else voice
    for name, val in (("rate", rate), ("pitch", pitch), ("quality", quality)):
        if not (isinstance(val, (int, float)) and 0.25 <= val <= 4.0):
            raise ValueError(f"{name}={val!r} out of range: expected a ratio in [0.25, 4]")
    texts = [" ".join(t.split()) for t in texts]
    if not all(texts):
        raise ValueError("empty text: pass a sentence to speak")
    if v.engine not in ("mbrola", "flite", "festival"):
        raise ValueError(f"voice {v.name}: unknown engine {v.engine!r}")
    with tempfile.TemporaryDirectory(prefix="facestream-synth-") as tmp:
        if v.engine == "festival":
            raw = _festival(v, texts, rate, tmp)
        else:
            fn = _mbrola if v.engine == "mbrola" else _flite
            raw = []
            for i, text in enumerate(texts):
                sub = os.path.join(tmp, str(i))
                os.mkdir(sub)
                raw.append(fn(v, text, rate, pitch, quality, seed, sub))
    out = []
    for text, (audio, sr, ends, meta) in zip(texts, raw):
        audio = _to_16k(audio, sr)
        phones = _segments(ends, len(audio) / vocab.SAMPLE_RATE, v.name)
        digest = hashlib.sha1(text.encode("utf-8")).hexdigest()[:12]
        uid = (f"{v.engine}/{v.name}/{v.language}/{digest}/"
               f"r{rate:.2f}-p{pitch:.2f}-q{quality:.2f}-s{seed}")
        meta.setdefault("pitch_applied", True)
        meta.setdefault("quality_applied", True)
        if v.engine == "festival":
            meta.update(pitch_applied=pitch == 1.0, quality_applied=quality == 1.0)
        meta.update(rate=rate, pitch=pitch, quality=quality, seed=seed,
                    recorded_language=v.recorded_language, engine_end_s=float(ends[-1][1]))
        out.append(Utterance(uid=uid, audio=audio, phones=phones, source=v.engine,
                             voice=v.name, language=v.language, text=text, meta=meta))
    return out


def _to_16k(audio: np.ndarray, sr: int) -> np.ndarray:
    """S float32 at `sr` -> S' float32 at vocab.SAMPLE_RATE, clipped to [-1, 1]."""
    if sr != vocab.SAMPLE_RATE:
        from scipy.signal import resample_poly
        ratio = Fraction(vocab.SAMPLE_RATE, int(sr))
        audio = resample_poly(audio, ratio.numerator, ratio.denominator)
    return np.clip(np.asarray(audio, dtype=np.float32), -1.0, 1.0)


def _segments(ends: list[tuple[str, float]], duration: float, voice: str) -> list[PhoneSeg]:
    """(inventory phone, end time) in order -> contiguous PhoneSegs covering [0, duration].

    The engine's last end must be within MAX_DRIFT_S (+0.5%) of the audio's length; the
    boundaries are stretched to meet it exactly."""
    if not ends:
        raise SynthesisError(f"{voice}: the engine reported no phones")
    last = ends[-1][1]
    if abs(last - duration) > MAX_DRIFT_S + 0.005 * duration or last <= 0:
        raise SynthesisError(f"{voice}: phones end at {last:.3f} s but the audio lasts "
                             f"{duration:.3f} s")
    scale = duration / last
    segs: list[PhoneSeg] = []
    start = 0.0
    for ph, end in ends:
        end = min(duration, end * scale)
        if end <= start + 1e-6:
            continue
        if segs and ph == SILENCE and segs[-1].phone == SILENCE:
            segs[-1].end = end
        else:
            segs.append(PhoneSeg(start, end, ph))
        start = end
    segs[-1].end = duration
    return segs


def _read_wav(path: str, voice: str) -> tuple[np.ndarray, int]:
    import soundfile as sf
    try:
        audio, sr = sf.read(path, dtype="float32", always_2d=True)
    except Exception as e:  # soundfile raises its own error types
        raise SynthesisError(f"{voice}: no readable audio ({e})") from None
    return audio.mean(axis=1), int(sr)


def _mbrola(v: Voice, text, rate, pitch, quality, seed, tmp):
    wpm = int(round(ESPEAK_DEFAULT_WPM * rate))
    wpm_ok = min(max(wpm, ESPEAK_WPM_RANGE[0]), ESPEAK_WPM_RANGE[1])
    time_ratio = wpm_ok / wpm  # the part of the rate espeak cannot do goes to mbrola -t
    r = _run(["espeak-ng", "-v", v.name, "-s", str(wpm_ok), "-b", "1", "-q", "--pho"],
             v.name, stdin=text.encode("utf-8"))
    pho = r.stdout.decode("utf-8", "replace")
    lines = [ln.split() for ln in pho.splitlines() if ln.strip() and not ln.startswith(";")]
    if r.returncode != 0 or not lines:
        raise SynthesisError(f"{v.name}: espeak-ng wrote no phones "
                             f"({r.stderr.decode('utf-8', 'replace').strip()[-300:]})")
    names = [ln[0] for ln in lines]
    durs = np.array([int(ln[1]) for ln in lines], dtype=np.int64)  # ms
    pitch_pts = [ln[2:] for ln in lines]
    if seed:
        rng = np.random.default_rng(seed)
        durs = np.maximum(1, np.round(durs * np.exp(rng.normal(0.0, 0.08, len(durs)))))
        durs = durs.astype(np.int64)
        # A smooth random pitch contour: one factor per ~5 phones, interpolated.
        knots = np.exp(rng.normal(0.0, 0.06, len(durs) // 5 + 2))
        f = np.interp(np.arange(len(durs)) / 5.0, np.arange(len(knots)), knots)
        pitch_pts = [[p if i % 2 == 0 else f"{float(p) * f[k]:.0f}" for i, p in enumerate(pts)]
                     for k, pts in enumerate(pitch_pts)]
    pho_path = os.path.join(tmp, "in.pho")
    with open(pho_path, "w", encoding="utf-8") as fh:
        for n, d, pts in zip(names, durs, pitch_pts):
            fh.write(f"{n} {d} {' '.join(pts)}\n")
    db_path = mbrola_database_path(v.backend)
    args = ["mbrola", "-e", "-t", f"{time_ratio:.6f}", "-f", f"{pitch:.6f}"]
    renames = MBROLA_RENAMES.get(v.backend)
    if renames:
        # -C clones the database's phone under espeak-ng's name (-R would rename it away).
        args += ["-C", " ".join(f"{b} {a}" for a, b in renames.items())]
    if quality != 1.0:
        args += ["-l", str(int(round(_mbrola_rate(v.backend) * quality)))]
    wav = os.path.join(tmp, "out.wav")
    m = _run(args + [db_path, pho_path, wav], v.name)
    err = m.stderr.decode("utf-8", "replace")
    if m.returncode != 0 or not os.path.isfile(wav):
        raise SynthesisError(f"{v.name}: mbrola failed ({err.strip()[-300:]})")
    audio, sr = _read_wav(wav, v.name)
    ends = np.cumsum(durs) * (time_ratio / 1000.0)
    phones = [phone_maps.to_inventory("mbrola", n, v.name) for n in names]
    meta = {"missing_diphones": len(re.findall(r"unknown", err)), "espeak_wpm": wpm_ok,
            "mbrola_time_ratio": time_ratio}
    return audio, sr, list(zip(phones, ends.tolist())), meta


@functools.lru_cache(maxsize=None)
def _mbrola_rate(db: str) -> int:
    """The database's sample rate (16000 or 22050), read from a one-phone rendering."""
    with tempfile.TemporaryDirectory(prefix="facestream-synth-") as tmp:
        pho = os.path.join(tmp, "x.pho")
        with open(pho, "w") as fh:
            fh.write("_ 50\n")
        wav = os.path.join(tmp, "x.wav")
        _run(["mbrola", "-e", mbrola_database_path(db), pho, wav], db)
        return _read_wav(wav, db)[1]


def _flite(v: Voice, text, rate, pitch, quality, seed, tmp):
    wav = os.path.join(tmp, "out.wav")
    args = ["flite", "-voice", v.backend, "-psdur", "--setf", f"duration_stretch={1 / rate:.6f}"]
    pitch_applied = v.backend in FLITE_F0_MEAN
    if pitch != 1.0 and pitch_applied:
        args += ["--setf", f"int_f0_target_mean={FLITE_F0_MEAN[v.backend] * pitch:.2f}"]
    # -t speaks the text as one utterance; -f would split it into utterances whose
    # -psdur times each restart at zero.
    r = _run(args + ["-t", text, "-o", wav], v.name)
    out = r.stdout.decode("utf-8", "replace")
    pairs = re.findall(r"(\S+):(\d+(?:\.\d+)?)", out)
    if r.returncode != 0 or not pairs or not os.path.isfile(wav):
        raise SynthesisError(f"{v.name}: flite failed "
                             f"({r.stderr.decode('utf-8', 'replace').strip()[-300:]})")
    audio, sr = _read_wav(wav, v.name)
    ends = [(phone_maps.to_inventory("flite", p, v.name), float(t)) for p, t in pairs]
    meta = {"pitch_applied": pitch == 1.0 or pitch_applied, "quality_applied": quality == 1.0}
    return audio, sr, ends, meta


# festival's HTS module passes "-r" (speed) to hts_engine but ignores "-fm" (pitch) and "-a"
# (all-pass constant, i.e. formants): output was bit-identical with them, so pitch and
# quality are not offered for festival voices (meta says so).
_FESTIVAL_HEAD = """(voice_{voice})
(set! hts_engine_params (append hts_engine_params (list (list "-r" {rate:.6f}))))
"""
_FESTIVAL_UTT = """(set! utt1 (Utterance Text "{text}"))
(utt.synth utt1)
(utt.save.wave utt1 "{wav}" 'riff)
(format t "UTT {index}\\n")
(mapcar (lambda (seg) (format t "SEG %s %f\\n" (item.name seg) (item.feat seg 'end))) (utt.relation.items utt1 'Segment))
"""


def _festival(v: Voice, texts: list[str], rate, tmp):
    script = os.path.join(tmp, "synth.scm")
    wavs = [os.path.join(tmp, f"{i}.wav") for i in range(len(texts))]
    with open(script, "w", encoding="utf-8") as fh:
        fh.write(_FESTIVAL_HEAD.format(voice=v.backend, rate=rate))
        for i, (text, wav) in enumerate(zip(texts, wavs)):
            safe = text.replace("\\", " ").replace('"', "")
            fh.write(_FESTIVAL_UTT.format(text=safe, wav=wav, index=i))
    r = _run(["festival", "--batch", script], v.name, cwd=tmp,
             timeout=TIMEOUT_S + 10.0 * len(texts))
    blocks = re.split(r"^UTT \d+$", r.stdout.decode("utf-8", "replace"), flags=re.M)[1:]
    if r.returncode != 0 or len(blocks) != len(texts):
        raise SynthesisError(f"{v.name}: festival failed "
                             f"({r.stderr.decode('utf-8', 'replace').strip()[-300:]})")
    out = []
    for block, wav in zip(blocks, wavs):
        pairs = re.findall(r"^SEG (\S+) (\d+(?:\.\d+)?)$", block, re.M)
        if not pairs or not os.path.isfile(wav):
            raise SynthesisError(f"{v.name}: festival wrote no phones or audio")
        audio, sr = _read_wav(wav, v.name)
        ends = [(phone_maps.to_inventory("festival", p, v.name), float(t)) for p, t in pairs]
        out.append((audio, sr, ends, {}))
    return out

"""The corpus on disk: sharded arrays, a manifest that makes a build resumable, and splits.

Layout of a corpus root:

    manifest.json             format, version, seed, the builder's config, completed jobs
    shards/JOB-0000.npz       one or more shards per job, ~`shard_minutes` of audio each

A *job* is the builder's unit of work (say one voice x a few hundred sentences). A job's
shards are written atomically (temp file, fsync, rename) and the job is recorded in the
manifest only after its last shard is in place, so `completed_jobs(root)` is the truth
after any crash: a killed build reruns the jobs not listed, and a rerun job first deletes
whatever its earlier attempt left behind (shards and half-written temp files). Every job
draws its randomness from `job_seed(seed, job_id)`, and shards are written byte for byte
the same for the same input (fixed zip timestamps, sorted JSON), so a resumed build equals
an uninterrupted one.

A shard is an *uncompressed* .npz (zip, stored). Uncompressed because each array is then
one contiguous byte range of the file, which the reader memory-maps: `corpus[i]` reads only
that utterance's bytes, and the page cache is shared by all DataLoader workers. Deflate
would save little (16-bit speech compresses ~10-20%) and would force decompressing a whole
array per access. Arrays of a shard (N utterances, S = their samples, T = their frames at
vocab.INTERNAL_FPS, P = their phone segments, all concatenated in utterance order):

    audio          S int16       PCM (formats.float_to_pcm16; 16-bit like the engines' output)
    audio_offsets  N+1 int64     utterance n is audio[audio_offsets[n]:audio_offsets[n+1]]
    frame_offsets  N+1 int64     ... and frames frame_offsets[n]:frame_offsets[n+1]
    arkit          T x 52 float16
    jaw, neck      T x 3 float16 axis-angle, radians
    emotion        T x 7 float16 weights
    intensity      T float16
    phone_ids      T int16       index into phonemes.INVENTORY
    seg_offsets    N+1 int64     phone segments of utterance n
    seg_times      P x 2 float64 start, end in seconds (exact round trip)
    seg_phone      P int16       index into phonemes.INVENTORY
    meta           uint8         UTF-8 JSON: {"format", "version", "job", "utterances":
                                 [{uid, source, voice, language, text, meta, split}, ...]}

Splits hold out synthetic speech by voice AND by sentence (`assign_split`,
`choose_held_out`), and real speech by speaker only (`assign_real_split`): a real speaker is
wholly 'train', 'test' or 'val'. The held-out real speakers are selected by the derived split
names in REAL_SPEAKER_SPLITS: `Corpus(root).select(split="test-real-speakers")`.
"""
from __future__ import annotations

import collections
import contextlib
import fnmatch
import hashlib
import io
import json
import mmap
import os
import re
import struct
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator, Mapping, Sequence

import numpy as np

from ... import vocab
from ...formats import float_to_pcm16, pcm16_to_float
from ..phonemes import INVENTORY, PHONE_INDEX, phone
from .types import PhoneSeg, Targets, Utterance

FORMAT = "facestream-corpus"
SHARD_FORMAT = "facestream-corpus-shard"
VERSION = 1
MANIFEST = "manifest.json"
SHARD_DIR = "shards"
SPLITS: tuple[str, ...] = ("train", "val", "test")
# Sources of recorded human speech (the rest is synthetic, with exact phone timing).
REAL_SOURCES: tuple[str, ...] = ("asterisk", "klettres", "ktuberling", "fillets", "fotaq")
# The ones `facestream data build` aligns unless told otherwise (--real-sources): the shipped
# model's recipe. Fish Fillets NG's dubbed dialogue is opt-in: training on it was measured not
# to help unseen real speakers (docs/eval/fillets_experiment.md). Flight of the Amazon Queen's
# English dialogue (corpus/fotaq.py) is built but held out whole (BuildConfig.test_real_sources):
# studio speech of 13 actors no model trains on, the closest Debian has to a user's microphone.
DEFAULT_REAL_SOURCES: tuple[str, ...] = ("asterisk", "klettres", "ktuberling", "fotaq")
# Derived split names: the real speech of the speakers held out whole -> the stored split.
REAL_SPEAKER_SPLITS: dict[str, str] = {"test-real-speakers": "test", "val-real-speakers": "val"}
_JOB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)  # fixed, so equal content gives equal bytes
_ALIGN = 64  # bytes: where each array's data starts in a shard
_TARGET_WIDTH = {"arkit": vocab.NUM_ARKIT, "jaw": 3, "neck": 3, "emotion": vocab.NUM_EMOTIONS}


class CorpusError(ValueError):
    """A corpus root or shard that is missing, damaged or of another format or build."""


# ---- splits --------------------------------------------------------------------------------

def assign_split(voice: str, sentence_id: str, held_out_voices: Iterable[str],
                 held_out_sentence_ids: Iterable[str]) -> str:
    """'train' | 'val' | 'test' for one utterance.

    Policy: an utterance of a held-out voice is 'test' (unseen speaker, whatever the text);
    a held-out sentence spoken by a training voice is 'val' (unseen text); everything else is
    'train'. So no held-out voice and no held-out sentence ever reaches training, 'val'
    measures generalisation to new text for model selection, and 'test' to new speakers.
    Sentence ids must be unique across text sources (prefix them: "asterisk/vm-intro").
    """
    if voice in held_out_voices:
        return "test"
    if sentence_id in held_out_sentence_ids:
        return "val"
    return "train"


def assign_real_split(speaker: str, test_speakers: Iterable[str],
                      val_speakers: Iterable[str], source: str | None = None,
                      test_sources: Iterable[str] = ()) -> str:
    """'train' | 'val' | 'test' for every utterance of one real speaker.

    Policy: real speech is held out by speaker, never by sentence. A speaker in
    `test_speakers` is never trained on ('test'); one in `val_speakers` calibrates ('val');
    any other speaker is entirely 'train'. The key is the person (`speaker_of`), not the
    voice: a person recorded in two languages is held out in both. Every speaker of a
    source in `test_sources` is 'test': a source whose speakers are characters, not the
    actors voicing them (Flight of the Amazon Queen: 38 characters, 13 actors), can only be
    held out whole without an actor leaking across splits."""
    if not speaker:
        raise ValueError("real speech needs a speaker key (Prompt.speaker) to be split by "
                         "speaker")
    test, val = set(test_speakers), set(val_speakers)
    if speaker in test and speaker in val:
        raise ValueError(f"speaker {speaker!r} is held out for both test and val: choose one")
    if source is not None and source in set(test_sources):
        if speaker in val:
            raise ValueError(f"speaker {speaker!r} is held out for val, but every speaker of "
                             f"source {source!r} is held out for test: choose one")
        return "test"
    return "test" if speaker in test else "val" if speaker in val else "train"


def is_real(record: Mapping) -> bool:
    """Whether a corpus record (`Corpus.records`) is recorded human speech."""
    return record["source"] in REAL_SOURCES


def speaker_of(record: Mapping) -> str:
    """The person speaking a record: meta["speaker"] for real speech, else the voice."""
    return record.get("meta", {}).get("speaker") or record["voice"]


def real_speaker_split(record: Mapping) -> str | None:
    """'test-real-speakers' | 'val-real-speakers' for a held-out real speaker's record, else
    None (synthetic speech, or a real speaker trained on)."""
    if not is_real(record):
        return None
    return next((name for name, split in REAL_SPEAKER_SPLITS.items()
                 if record["split"] == split), None)


@dataclass(frozen=True)
class HeldOut:
    voices: frozenset[str]
    sentence_ids: frozenset[str]

    def as_dict(self) -> dict:
        """Sorted lists, for the manifest's config."""
        return {"voices": sorted(self.voices), "sentence_ids": sorted(self.sentence_ids)}


def choose_held_out(voices_by_source: Mapping[str, Iterable[str]],
                    prompt_ids: Iterable[str], seed: int, *,
                    voice_sources: Sequence[str] = ("mbrola", "flite"),
                    prompt_fraction: float = 0.1) -> HeldOut:
    """The project's held-out set, deterministic from `seed`.

    One voice of each source in `voice_sources` (by default one MBROLA and one flite voice)
    and `prompt_fraction` (a tenth) of the recorded Asterisk prompts `prompt_ids` (at least
    one) are held out. A listed source with a single voice cannot give one up without leaving
    training no voice of it: that is an error naming the fix. Sources absent from
    `voices_by_source` are skipped.
    """
    if not 0.0 <= prompt_fraction < 1.0:
        raise ValueError(f"prompt_fraction={prompt_fraction}: must be in [0, 1)")
    rng = np.random.default_rng(seed)
    voices = set()
    for src in voice_sources:
        if src not in voices_by_source:
            continue
        pool = sorted(set(voices_by_source[src]))
        if len(pool) < 2:
            raise ValueError(f"source {src!r} has {len(pool)} voice(s): holding one out needs at "
                             "least two (install another voice, or leave the source out of "
                             "voice_sources)")
        voices.add(pool[int(rng.integers(len(pool)))])
    prompts = sorted(set(prompt_ids))
    n = max(1, round(prompt_fraction * len(prompts))) if prompts and prompt_fraction > 0 else 0
    held = [prompts[i] for i in rng.permutation(len(prompts))[:n]]
    return HeldOut(frozenset(voices), frozenset(held))


def job_seed(seed: int, job_id: str) -> int:
    """A 63-bit seed for one job, stable across runs, machines and job order."""
    h = hashlib.sha256(f"{int(seed)}/{job_id}".encode()).digest()
    return int.from_bytes(h[:8], "little") >> 1


# ---- manifest ------------------------------------------------------------------------------

def _normalise(config: Mapping) -> dict:
    try:
        return json.loads(json.dumps(config, sort_keys=True))
    except (TypeError, ValueError) as e:
        raise ValueError(f"corpus config must be JSON-serialisable (dicts, lists, numbers, "
                         f"strings): {e}") from e


def read_manifest(root: str | Path) -> dict:
    path = Path(root) / MANIFEST
    if not path.exists():
        raise CorpusError(f"no corpus at {root}: {MANIFEST} is missing (build one, or give the "
                          "directory that holds manifest.json)")
    try:
        m = json.loads(path.read_text())
    except ValueError as e:
        raise CorpusError(f"{path} is not valid JSON ({e}): the corpus manifest is damaged") from e
    if m.get("format") != FORMAT:
        raise CorpusError(f"{path} is not a facestream corpus manifest")
    if m.get("version", 0) > VERSION:
        raise CorpusError(f"{path}: corpus format {m['version']} is newer than this facestream "
                          f"reads ({VERSION}): upgrade facestream")
    return m


def init_corpus(root: str | Path, config: Mapping, seed: int) -> dict:
    """Create the corpus root and its manifest, or check that an existing one was started with
    the same config and seed (so resuming cannot mix two builds). Returns the manifest."""
    root = Path(root)
    (root / SHARD_DIR).mkdir(parents=True, exist_ok=True)
    cfg = _normalise(config)
    with _manifest_lock(root):
        if (root / MANIFEST).exists():
            m = read_manifest(root)
            if m["seed"] != int(seed) or m["config"] != cfg:
                raise CorpusError(f"the corpus at {root} was started with another config or seed: "
                                  "resume with the same ones, or build into a new directory")
            return m
        m = {"format": FORMAT, "version": VERSION, "seed": int(seed), "config": cfg, "jobs": {}}
        _write_atomic(root / MANIFEST, _manifest_bytes(m))
        return m


def completed_jobs(root: str | Path) -> set[str]:
    """Ids of the jobs whose shards are all written: the builder skips these on a rerun."""
    return set(read_manifest(root)["jobs"])


def forget_jobs(root: str | Path, patterns: Iterable[str] = (),
                languages: Iterable[str] = ()) -> list[str]:
    """Mark completed jobs as not done, so the next build redoes them (after a change to
    how targets or phones are made, e.g. a phone map of one language). A job goes when its
    id matches one of the shell-style `patterns` ("voice.mb-es*") or it holds an utterance in
    one of `languages`. Its shards stay until its writer replaces them. Returns the ids."""
    root = Path(root)
    patterns, languages = list(patterns), set(languages)
    by_language = set()
    if languages:
        by_language = {f"{'real' if is_real(r) else 'voice'}.{r['voice']}"
                       for r in Corpus(root).records if r["language"] in languages}
    with _manifest_lock(root):
        m = read_manifest(root)
        gone = sorted(j for j in m["jobs"]
                      if j in by_language or any(fnmatch.fnmatchcase(j, p) for p in patterns))
        for j in gone:
            del m["jobs"][j]
        _write_atomic(root / MANIFEST, _manifest_bytes(m))
    return gone


def _manifest_bytes(m: dict) -> bytes:
    return (json.dumps(m, indent=1, sort_keys=True) + "\n").encode()


@contextlib.contextmanager
def _manifest_lock(root: Path):
    """Serialise manifest updates of parallel job processes (POSIX advisory lock)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: one writer process at a time
        yield
        return
    with open(root / ".manifest.lock", "a+b") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _write_atomic(path: Path, data: bytes | Callable[[io.BufferedWriter], None]) -> None:
    """Write to PATH.tmp, fsync, rename over PATH: readers see the old file or the new one."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        if callable(data):
            data(f)
        else:
            f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    with contextlib.suppress(OSError):  # make the rename itself durable where supported
        fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


# ---- writing -------------------------------------------------------------------------------

def _write_npz(f: io.BytesIO, arrays: Mapping[str, np.ndarray]) -> None:
    """A stored (uncompressed) .npz that np.load reads, with every array's data 64-byte
    aligned in the file, so memory-mapped views are aligned too."""
    with zipfile.ZipFile(f, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
        for name, arr in arrays.items():
            info = zipfile.ZipInfo(name + ".npy", date_time=_ZIP_TIME)
            # Local header = 30 bytes + name + extra (ours, then zipfile's 20-byte zip64
            # field); npy pads its own header to 64. An extra field of ours (id 0xD935, as
            # Android's zipalign uses) pads the local header to a multiple of 64.
            fixed = f.tell() + 30 + len(info.filename.encode()) + 20
            pad = -fixed % _ALIGN
            pad += _ALIGN if pad < 4 else 0
            info.extra = struct.pack("<HH", 0xD935, pad - 4) + bytes(pad - 4)
            with zf.open(info, "w", force_zip64=True) as w:
                np.lib.format.write_array(w, np.ascontiguousarray(arr), allow_pickle=False)


class ShardWriter:
    """Writes one job's utterances into shards of about `shard_minutes` of audio.

        init_corpus(root, config, seed)
        for job in jobs:
            if job.id in completed_jobs(root):
                continue
            with ShardWriter(root, job.id) as w:
                for utt, targets, split in job.run(job_seed(seed, job.id)):
                    w.add(utt, targets, split)

    Leaving the `with` block normally commits the job (last shard + manifest entry); an
    exception leaves it uncommitted, to be redone. Opening a writer for a job deletes what an
    earlier, unfinished attempt at it left in shards/.
    """

    def __init__(self, root: str | Path, job_id: str, shard_minutes: float = 10.0) -> None:
        if not _JOB_ID.match(job_id):
            raise ValueError(f"job id {job_id!r}: use letters, digits and _ . + - (it names files)")
        if shard_minutes <= 0:
            raise ValueError(f"shard_minutes={shard_minutes}: must be > 0")
        self.root = Path(root)
        self.job_id = job_id
        self.max_samples = int(shard_minutes * 60 * vocab.SAMPLE_RATE)
        if job_id in completed_jobs(self.root):
            raise CorpusError(f"job {job_id!r} is already complete in {self.root}: skip it "
                              "(see completed_jobs) instead of writing it again")
        self._shards: list[str] = []
        self._hashes: list[str] = []
        self._buf: list[tuple[Utterance, Targets, str]] = []
        self._buf_samples = 0
        self._utterances = 0
        self._seconds = 0.0
        self._uids: set[str] = set()
        self._closed = False
        pattern = re.compile(rf"^{re.escape(job_id)}-\d{{4}}\.npz(\.tmp)?$")
        for p in (self.root / SHARD_DIR).iterdir():
            if pattern.match(p.name):
                p.unlink()

    def add(self, utterance: Utterance, targets: Targets, split: str) -> None:
        """Queue one utterance; a shard is written whenever enough audio has gathered."""
        if self._closed:
            raise RuntimeError("ShardWriter is closed")
        if split not in SPLITS:
            raise ValueError(f"split {split!r}: expected one of {SPLITS} (see assign_split)")
        if utterance.uid in self._uids:
            raise ValueError(f"uid {utterance.uid!r} added twice to job {self.job_id!r}")
        _check_pair(utterance, targets)
        self._uids.add(utterance.uid)
        self._buf.append((utterance, targets, split))
        self._buf_samples += len(utterance.audio)
        if self._buf_samples >= self.max_samples:
            self._flush()

    def commit(self) -> None:
        """Write the last shard and record the job as complete in the manifest."""
        if self._closed:
            return
        if self._buf:
            self._flush()
        entry = {"shards": self._shards, "sha256": self._hashes,
                 "utterances": self._utterances, "seconds": round(self._seconds, 3)}
        with _manifest_lock(self.root):
            m = read_manifest(self.root)
            m["jobs"][self.job_id] = entry
            _write_atomic(self.root / MANIFEST, _manifest_bytes(m))
        self._closed = True

    def __enter__(self) -> "ShardWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.commit()
        else:
            self._closed = True  # uncommitted: the job reruns on the next build

    def _flush(self) -> None:
        name = f"{self.job_id}-{len(self._shards):04d}.npz"
        arrays = _pack(self._buf, self.job_id)
        digest = hashlib.sha256()

        def write(f):
            buf = io.BytesIO()
            _write_npz(buf, arrays)
            data = buf.getbuffer()
            digest.update(data)
            f.write(data)

        _write_atomic(self.root / SHARD_DIR / name, write)
        self._shards.append(f"{SHARD_DIR}/{name}")
        self._hashes.append(digest.hexdigest())
        self._utterances += len(self._buf)
        self._seconds += self._buf_samples / vocab.SAMPLE_RATE
        self._buf, self._buf_samples = [], 0


def _check_pair(u: Utterance, t: Targets) -> None:
    def bad(msg: str) -> ValueError:
        return ValueError(f"utterance {u.uid!r}: {msg}")

    a = np.asarray(u.audio)
    if a.ndim != 1 or a.dtype.kind != "f":
        raise bad(f"audio must be mono float (S,) at {vocab.SAMPLE_RATE} Hz, "
                  f"got {a.dtype} {a.shape}")
    if not np.isfinite(a).all() or (len(a) and np.abs(a).max() > 1.0001):
        raise bad("audio must be finite with peak <= 1: normalise it before storing")
    n = u.num_frames()
    for key in ("arkit", "jaw", "neck", "emotion"):
        shape = np.shape(getattr(t, key))
        if shape != (n, _TARGET_WIDTH[key]):
            raise bad(f"targets.{key} must be T x {_TARGET_WIDTH[key]} with T = {n} frames for "
                      f"{len(a)} samples (ceil(S / {vocab.HOP_SAMPLES})), got {shape}")
    for key in ("intensity", "phone_ids"):
        if np.shape(getattr(t, key)) != (n,):
            raise bad(f"targets.{key} must have T = {n} entries, got {np.shape(getattr(t, key))}")
    ids = np.asarray(t.phone_ids)
    if len(ids) and (ids.min() < 0 or ids.max() >= len(INVENTORY)):
        raise bad(f"targets.phone_ids must index phonemes.INVENTORY (0..{len(INVENTORY) - 1})")
    for s in u.phones:
        phone(s.phone)  # raises, listing the inventory
    try:
        json.dumps(u.meta)
    except (TypeError, ValueError) as e:
        raise bad(f"meta must be JSON-serialisable: {e}") from e


def _pack(items: list[tuple[Utterance, Targets, str]], job_id: str) -> dict[str, np.ndarray]:
    def offsets(lengths):
        return np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)

    def cat(key, dtype):
        return np.concatenate([np.asarray(getattr(t, key)) for _, t, _ in items]).astype(dtype)

    audio = np.concatenate([u.audio for u, _, _ in items])
    pcm = float_to_pcm16(audio)
    segs = [s for u, _, _ in items for s in u.phones]
    meta = {"format": SHARD_FORMAT, "version": VERSION, "job": job_id, "utterances": [
        {"uid": u.uid, "source": u.source, "voice": u.voice, "language": u.language,
         "text": u.text, "meta": u.meta, "split": split} for u, _, split in items]}
    return {
        "audio": pcm,
        "audio_offsets": offsets([len(u.audio) for u, _, _ in items]),
        "frame_offsets": offsets([u.num_frames() for u, _, _ in items]),
        "arkit": cat("arkit", np.float16).reshape(-1, vocab.NUM_ARKIT),
        "jaw": cat("jaw", np.float16).reshape(-1, 3),
        "neck": cat("neck", np.float16).reshape(-1, 3),
        "emotion": cat("emotion", np.float16).reshape(-1, vocab.NUM_EMOTIONS),
        "intensity": cat("intensity", np.float16),
        "phone_ids": cat("phone_ids", np.int16),
        "seg_offsets": offsets([len(u.phones) for u, _, _ in items]),
        "seg_times": np.array([(s.start, s.end) for s in segs], dtype=np.float64).reshape(-1, 2),
        "seg_phone": np.array([PHONE_INDEX[s.phone] for s in segs], dtype=np.int16),
        "meta": np.frombuffer(json.dumps(meta, sort_keys=True).encode(), dtype=np.uint8),
    }


# ---- reading -------------------------------------------------------------------------------

def _open_shard(path: Path) -> dict[str, np.ndarray]:
    """Arrays of a stored .npz as read-only views of one memory map of the file."""
    try:
        with open(path, "rb") as f:
            mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
            members = zipfile.ZipFile(f).infolist()
    except (OSError, zipfile.BadZipFile, ValueError) as e:
        raise CorpusError(f"cannot read shard {path}: {e} (rebuild its job: remove the job "
                          "from manifest.json and rerun the build)") from e
    out = {}
    for info in members:
        if info.compress_type != zipfile.ZIP_STORED or not info.filename.endswith(".npy"):
            raise CorpusError(f"{path}: member {info.filename} is compressed or not an array; "
                              "not a facestream shard")
        h = info.header_offset
        if mm[h:h + 4] != b"PK\x03\x04":
            raise CorpusError(f"{path}: damaged zip header for {info.filename}")
        name_len, extra_len = struct.unpack("<HH", mm[h + 26:h + 30])
        f = io.BytesIO(mm[h + 30 + name_len + extra_len:h + 30 + name_len + extra_len + 4096])
        version = np.lib.format.read_magic(f)
        read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                       else np.lib.format.read_array_header_2_0)
        shape, fortran, dtype = read_header(f)
        start = h + 30 + name_len + extra_len + f.tell()
        count = int(np.prod(shape))
        arr = np.frombuffer(mm, dtype=dtype, count=count, offset=start) if count else \
            np.empty(0, dtype=dtype)
        out[info.filename[:-4]] = arr.reshape(shape, order="F" if fortran else "C")
    return out


@dataclass
class CorpusStats:
    """Counts over a selection of a corpus (hours of audio, frames at INTERNAL_FPS)."""

    utterances: int
    hours: float
    hours_by_source: dict[str, float]
    hours_by_voice: dict[str, float]
    hours_by_language: dict[str, float]
    hours_by_split: dict[str, float]
    utterances_by_split: dict[str, int]
    phone_frames: dict[str, int]  # frames per phone symbol, every inventory symbol present
    phone_segments: dict[str, int]  # phone segments per symbol
    emotion_share: dict[str, float]  # mean emotion weight over frames (sums to 1)
    dominant_emotion_frames: dict[str, int]  # frames by their strongest emotion
    mean_intensity: float = 0.0


class Corpus:
    """Reads a corpus root: metadata filters, random access and statistics.

    corpus[i] -> (Utterance, Targets), float32 arrays (audio within 1/32768 of what was
    stored, targets within float16). Only jobs recorded in the manifest are read: shards of
    an unfinished job and temp files are ignored. Not thread-safe (its shard cache); pickle
    it into each DataLoader worker process instead: open memory maps are not carried along.
    """

    def __init__(self, root: str | Path, cache_shards: int = 16) -> None:
        self.root = Path(root)
        self.manifest = read_manifest(self.root)
        self.cache_shards = cache_shards
        self._cache: collections.OrderedDict[int, dict] = collections.OrderedDict()
        self.shards: list[str] = [s for job in sorted(self.manifest["jobs"])
                                  for s in self.manifest["jobs"][job]["shards"]]
        records, shard_of, local, n_samples, n_frames = [], [], [], [], []
        for k, rel in enumerate(self.shards):
            path = self.root / rel
            if not path.exists():
                raise CorpusError(f"shard {path} is listed in the manifest but missing: the "
                                  "corpus is damaged (remove its job from manifest.json and "
                                  "rerun the build)")
            arrays = _open_shard(path)
            head = json.loads(bytes(arrays["meta"]).decode())
            if head.get("format") != SHARD_FORMAT or head.get("version", 0) > VERSION:
                raise CorpusError(f"{path} is not a shard this facestream reads")
            utts = head["utterances"]
            records.extend(utts)
            shard_of.extend([k] * len(utts))
            local.extend(range(len(utts)))
            n_samples.extend(np.diff(arrays["audio_offsets"]).tolist())
            n_frames.extend(np.diff(arrays["frame_offsets"]).tolist())
            del arrays
        self._all = records
        self._shard_of = np.asarray(shard_of, dtype=np.int64)
        self._local = np.asarray(local, dtype=np.int64)
        self._n_samples = np.asarray(n_samples, dtype=np.int64)
        self._n_frames = np.asarray(n_frames, dtype=np.int64)
        self._sel = np.arange(len(records), dtype=np.int64)

    # ---- selection ---------------------------------------------------------------------
    def select(self, split: str | Iterable[str] | None = None,
               source: str | Iterable[str] | None = None,
               voice: str | Iterable[str] | None = None,
               language: str | Iterable[str] | None = None,
               where: Callable[[dict], bool] | None = None) -> "Corpus":
        """A view of the utterances matching every given filter (each a value or several).

        split: SPLITS, or a name in REAL_SPEAKER_SPLITS ("test-real-speakers": the real
        speech of the speakers never trained on)."""
        wanted = {k: ({v} if isinstance(v, str) else set(v)) for k, v in
                  (("split", split), ("source", source), ("voice", voice),
                   ("language", language)) if v is not None}
        splits = wanted.pop("split", None)
        if splits is not None and splits - set(SPLITS) - set(REAL_SPEAKER_SPLITS):
            raise ValueError(f"split {sorted(splits)}: expected among "
                             f"{SPLITS + tuple(REAL_SPEAKER_SPLITS)}")

        def split_ok(r: dict) -> bool:
            return splits is None or r["split"] in splits or real_speaker_split(r) in splits

        keep = [i for i in self._sel
                if all(self._all[i][k] in vals for k, vals in wanted.items())
                and split_ok(self._all[i]) and (where is None or where(self._all[i]))]
        view = object.__new__(Corpus)
        view.__dict__.update(self.__dict__)
        view._cache = collections.OrderedDict()
        view._sel = np.asarray(keep, dtype=np.int64)
        return view

    @property
    def records(self) -> list[dict]:
        """Metadata of the selected utterances: uid, source, voice, language, text, meta, split."""
        return [self._all[i] for i in self._sel]

    @property
    def durations(self) -> np.ndarray:
        """Seconds of each selected utterance."""
        return self._n_samples[self._sel] / vocab.SAMPLE_RATE

    def __len__(self) -> int:
        return len(self._sel)

    def __iter__(self) -> Iterator[tuple[Utterance, Targets]]:
        for i in range(len(self)):
            yield self[i]

    def __getitem__(self, i: int) -> tuple[Utterance, Targets]:
        if not -len(self) <= i < len(self):
            raise IndexError(f"utterance {i} out of range for a corpus of {len(self)}")
        g = int(self._sel[i])
        a = self._arrays(int(self._shard_of[g]))
        n = int(self._local[g])
        s0, s1 = a["audio_offsets"][n:n + 2]
        f0, f1 = a["frame_offsets"][n:n + 2]
        p0, p1 = a["seg_offsets"][n:n + 2]
        rec = self._all[g]
        phones = [PhoneSeg(float(st), float(en), INVENTORY[int(p)].symbol)
                  for (st, en), p in zip(a["seg_times"][p0:p1], a["seg_phone"][p0:p1])]
        utt = Utterance(uid=rec["uid"], audio=pcm16_to_float(a["audio"][s0:s1]),
                        phones=phones, source=rec["source"], voice=rec["voice"],
                        language=rec["language"], text=rec["text"], meta=dict(rec["meta"]))
        tg = Targets(**{k: a[k][f0:f1].astype(np.float32) for k in
                        ("arkit", "jaw", "neck", "emotion", "intensity")},
                     phone_ids=a["phone_ids"][f0:f1].astype(np.int16))
        return utt, tg

    def _arrays(self, k: int) -> dict[str, np.ndarray]:
        if k in self._cache:
            self._cache.move_to_end(k)
            return self._cache[k]
        arrays = _open_shard(self.root / self.shards[k])
        self._cache[k] = arrays
        while len(self._cache) > max(1, self.cache_shards):
            self._cache.popitem(last=False)
        return arrays

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_cache"] = collections.OrderedDict()
        return state

    def verify(self) -> list[str]:
        """Shards whose bytes differ from the sha256 the manifest recorded (empty: all good)."""
        bad = []
        for job in self.manifest["jobs"].values():
            for rel, want in zip(job["shards"], job.get("sha256", [])):
                h = hashlib.sha256()
                with open(self.root / rel, "rb") as f:
                    for block in iter(lambda: f.read(1 << 20), b""):
                        h.update(block)
                if h.hexdigest() != want:
                    bad.append(rel)
        return bad

    # ---- statistics --------------------------------------------------------------------
    def stats(self) -> CorpusStats:
        """Hours per source/voice/language/split, phone coverage and emotion balance."""
        recs = self.records
        secs = self.durations

        def hours_by(key: str) -> dict[str, float]:
            out: dict[str, float] = collections.defaultdict(float)
            for r, s in zip(recs, secs):
                out[r[key]] += s / 3600.0
            return dict(sorted(out.items()))

        frames = np.zeros(len(INVENTORY), dtype=np.int64)
        segments = np.zeros(len(INVENTORY), dtype=np.int64)
        emo = np.zeros(vocab.NUM_EMOTIONS, dtype=np.float64)
        dominant = np.zeros(vocab.NUM_EMOTIONS, dtype=np.int64)
        intensity = 0.0
        total_frames = 0
        shard_of = self._shard_of[self._sel]
        for k in np.unique(shard_of):
            a = self._arrays(int(k))
            local = np.zeros(len(a["audio_offsets"]) - 1, dtype=bool)
            local[self._local[self._sel[shard_of == k]]] = True
            fmask = np.repeat(local, np.diff(a["frame_offsets"]))
            smask = np.repeat(local, np.diff(a["seg_offsets"]))
            frames += np.bincount(a["phone_ids"][fmask], minlength=len(INVENTORY))
            segments += np.bincount(a["seg_phone"][smask], minlength=len(INVENTORY))
            e = a["emotion"][fmask].astype(np.float32)
            emo += e.sum(axis=0, dtype=np.float64)
            if len(e):
                dominant += np.bincount(e.argmax(axis=1), minlength=vocab.NUM_EMOTIONS)
            intensity += float(a["intensity"][fmask].astype(np.float64).sum())
            total_frames += int(fmask.sum())
        by_split = hours_by("split")
        counts = collections.Counter(r["split"] for r in recs)
        return CorpusStats(
            utterances=len(recs), hours=float(secs.sum() / 3600.0),
            hours_by_source=hours_by("source"), hours_by_voice=hours_by("voice"),
            hours_by_language=hours_by("language"),
            hours_by_split={s: by_split.get(s, 0.0) for s in SPLITS},
            utterances_by_split={s: counts.get(s, 0) for s in SPLITS},
            phone_frames={p.symbol: int(c) for p, c in zip(INVENTORY, frames)},
            phone_segments={p.symbol: int(c) for p, c in zip(INVENTORY, segments)},
            emotion_share={n: float(v / max(emo.sum(), 1e-12))
                           for n, v in zip(vocab.EMOTION_NAMES, emo)},
            dominant_emotion_frames={n: int(c) for n, c in zip(vocab.EMOTION_NAMES, dominant)},
            mean_intensity=intensity / max(total_frames, 1),
        )

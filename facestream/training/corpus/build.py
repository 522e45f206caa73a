"""Build the training corpus: every offline voice speaking sentences, turned into face targets.

    make data-deps && facestream data build -o build/corpus            # ~10 h, 79 voices
    facestream data build -o build/tiny --minutes-per-voice 0.3 --voices mb-us1,flite-slt

One job per voice: a synthetic voice's job synthesises sentences in the voice's language
until it has `minutes_per_voice` of speech, varying rate, pitch, voice quality and loudness; a
real voice's job (Asterisk prompts, KLettres letters and syllables, KTuberling words) aligns
its recordings and keeps those that pass the aligner's confidence test (`_align`). Each
utterance becomes targets with a speaker style drawn once per voice, or once per person for
real speech (`rig.ArticulationStyle.sample`), and a random emotion track.

Real speech is split by speaker, never by sentence: the speakers in `test_real_speakers`, and
every speaker of the sources in `test_real_sources`, are never trained on ('test', selected as
'test-real-speakers', see store.REAL_SPEAKER_SPLITS), those in `val_real_speakers` calibrate
('val'), every other real speaker is all 'train'.

Jobs run in worker processes, write their own shards and are recorded in the manifest when
done, so a killed build resumes where it stopped and the same seed gives the same corpus.
"""
from __future__ import annotations

import contextlib
import hashlib
import multiprocessing as mp
import os
import signal
import sys
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from . import store
from .store import DEFAULT_REAL_SOURCES, REAL_SOURCES
from .types import Utterance

# Real-speech sources whose English transcripts are subtitles, not the script the speaker
# read (game dialogue: an actor may say a line otherwise): pocketsphinx times them and, like
# non-English recordings, each must also pass ctc_align's transcript rank test, since
# pocketsphinx keeps any transcript whose words are in its dictionary.
RANK_TESTED_ENGLISH: frozenset[str] = frozenset({"fotaq"})

@dataclass(frozen=True)
class BuildConfig:
    minutes_per_voice: float = 8.0  # synthetic speech per voice
    voices: tuple[str, ...] = ()  # restrict to these voice names (empty: every usable voice)
    engines: tuple[str, ...] = ("mbrola", "flite", "festival")
    real_sources: tuple[str, ...] = DEFAULT_REAL_SOURCES  # recorded speech to align (REAL_SOURCES)
    real_voices: tuple[str, ...] = ()  # restrict real speech to these voices (empty: all)
    held_out_voices: tuple[str, ...] = ("mb-us2", "flite-awb")  # never in training ('test')
    held_out_sentence_fraction: float = 0.1  # of each language's sentences ('val')
    # Whole real speakers (a person, whatever voices they lend: store.speaker_of) never
    # trained on: 'test' ('test-real-speakers'), and 'val' for calibrating ('val-real-speakers').
    test_real_speakers: tuple[str, ...] = ("armelle-desjardins", "july-jimenez", "kde-de",
                                           "kde-nl")
    val_real_speakers: tuple[str, ...] = ("menardi", "kde-cs", "kde-pt-br")
    # Sources held out whole ('test'): their speakers are characters, several voiced by one
    # actor, so no speaker-level split could keep an actor out of training (corpus/fotaq.py).
    test_real_sources: tuple[str, ...] = ("fotaq",)
    # Shortest phone the CTC aligner may give (10 ms frames; ctc_align.viterbi). 1 leaves a
    # third of the GSM test speakers' bilabials one frame long where the aligner is unsure
    # (docs/eval/alignment_experiment.md); 3 is pocketsphinx's floor. Not yet the recipe's.
    min_phone_frames: int = 1
    rate: tuple[float, float] = (0.8, 1.25)  # speaking-rate factor range
    pitch: tuple[float, float] = (0.85, 1.2)  # pitch factor range
    quality: tuple[float, float] = (0.92, 1.08)  # MBROLA voice-quality (formant) factor range
    loudness_db: tuple[float, float] = (-14.0, -1.0)  # peak level range
    batch: int = 4  # sentences per engine call (one prosody setting each)
    drop_missing_diphones: bool = True  # drop utterances MBROLA rendered with gaps
    shard_minutes: float = 10.0

    def __post_init__(self):
        unknown = set(self.real_sources) - set(REAL_SOURCES)
        if unknown:
            raise ValueError(f"real_sources {sorted(unknown)}: expected among {REAL_SOURCES}")
        if not 1 <= self.min_phone_frames <= 10:
            raise ValueError(f"min_phone_frames must be 1..10 frames of 10 ms, got {self.min_phone_frames}")
        unknown = set(self.test_real_sources) - set(REAL_SOURCES)
        if unknown:
            raise ValueError(f"test_real_sources {sorted(unknown)}: expected among {REAL_SOURCES}")
        both = set(self.test_real_speakers) & set(self.val_real_speakers)
        if both:
            raise ValueError(f"speakers {sorted(both)} are in both test_real_speakers and "
                             "val_real_speakers: hold each speaker out for one purpose")

    def to_dict(self) -> dict:
        return asdict(self)


def sentence_held_out(language: str, index: int, fraction: float) -> bool:
    """A fixed fraction of each language's sentence list, chosen by hash (not by position)."""
    h = hashlib.sha256(f"{language}/{index}".encode()).digest()
    return int.from_bytes(h[:4], "little") / 2**32 < fraction


def _split(voice: str, sentence_id: str, cfg: BuildConfig, held_sentence: bool) -> str:
    return store.assign_split(voice, sentence_id, cfg.held_out_voices,
                              {sentence_id} if held_sentence else set())


def voice_job(root: str, voice_name: str, cfg: BuildConfig, seed: int) -> dict:
    """Synthesise one voice's share of the corpus into shards. Returns a small report."""
    from . import expressive, rig, synth, texts

    job_id = f"voice.{voice_name}"
    rng = np.random.default_rng(store.job_seed(seed, job_id))
    voice = synth.get_voice(voice_name)
    lang = texts.text_language(voice.language)
    pool = texts.sentences(lang, seed=0)
    style = rig.ArticulationStyle.sample(rng)
    target_s = cfg.minutes_per_voice * 60.0
    got_s, dropped, n_utts, attempts = 0.0, 0, 0, 0
    order = rng.permutation(len(pool))
    with store.ShardWriter(root, job_id, shard_minutes=cfg.shard_minutes) as writer:
        pos = 0
        while got_s < target_s and pos < len(order) and attempts < 400:
            attempts += 1
            idx = [int(i) for i in order[pos:pos + cfg.batch]]
            pos += cfg.batch
            rate = float(rng.uniform(*cfg.rate))
            pitch = float(rng.uniform(*cfg.pitch))
            quality = float(rng.uniform(*cfg.quality))
            try:
                utts = synth.synthesize_many(voice, [pool[i] for i in idx], rate=rate, pitch=pitch,
                                             quality=quality, seed=int(rng.integers(2**31)))
            except (synth.SynthesisError, ValueError) as e:
                # e.g. a symbol the phone maps do not know yet: lose the batch, not the voice
                print(f"[{voice_name}] skipped a batch: {e}", file=sys.stderr)
                dropped += len(idx)
                continue
            for i, utt in zip(idx, utts):
                if cfg.drop_missing_diphones and utt.meta.get("missing_diphones", 0) > 0:
                    dropped += 1
                    continue
                if utt.duration < 0.5:
                    continue
                peak = float(np.abs(utt.audio).max()) or 1.0
                gain = 10 ** (rng.uniform(*cfg.loudness_db) / 20) / peak
                utt.audio = (utt.audio * gain).astype(np.float32)
                sid = f"{lang}/{i}"
                utt.uid = f"{voice.engine}/{voice_name}/{sid}"
                utt.meta.update({"sentence_id": sid, "gain": gain})
                targets = expressive.make_targets(utt, rng, style=style)
                held = sentence_held_out(lang, i, cfg.held_out_sentence_fraction)
                writer.add(utt, targets, _split(voice_name, sid, cfg, held))
                got_s += utt.duration
                n_utts += 1
    return {"job": job_id, "seconds": got_s, "utterances": n_utts, "dropped": dropped}


def real_job(root: str, voice: str, cfg: BuildConfig, seed: int) -> dict:
    """Align one real voice's recordings and store the confident ones, split by speaker."""
    from . import expressive, rig

    job_id = f"real.{voice}"
    rng = np.random.default_rng(store.job_seed(seed, job_id))
    prompts = real_prompts(voice)
    if not prompts:
        raise ValueError(f"real voice {voice!r} has no installed recordings (make data-deps)")
    # A voice is aligned as one (its transcripts compete in the rank test) but may hold several
    # speakers (Fish Fillets' characters): split and style go by the speaker of each prompt.
    speakers = sorted({p.speaker for p in prompts})
    source_of = {p.speaker: p.source for p in prompts}
    splits = {s: real_split(s, source_of[s], cfg) for s in speakers}
    utts, rejected = _align(prompts, cfg.min_phone_frames)
    # one style per person, so a speaker lending two voices (Allison) articulates alike
    styles = {s: rig.ArticulationStyle.sample(
        np.random.default_rng(store.job_seed(seed, f"speaker.{s}"))) for s in speakers}
    got_s = 0.0
    with store.ShardWriter(root, job_id, shard_minutes=cfg.shard_minutes) as writer:
        for utt in utts:
            utt.meta["sentence_id"] = utt.uid  # SOURCE/VOICE/LANG/ID
            speaker = utt.meta["speaker"]
            targets = expressive.make_targets(utt, rng, style=styles[speaker])
            writer.add(utt, targets, splits[speaker])
            got_s += utt.duration
    return {"job": job_id, "seconds": got_s, "utterances": len(utts), "dropped": rejected,
            "speaker": ",".join(speakers), "split": ",".join(sorted(set(splits.values())))}


def real_split(speaker: str, source: str, cfg: BuildConfig) -> str:
    """The split of every recording of one real speaker of `source` under `cfg`."""
    return store.assign_real_split(speaker, cfg.test_real_speakers, cfg.val_real_speakers,
                                   source, cfg.test_real_sources)


def real_prompts(voice: str) -> list:
    """The recordings of one real voice, with transcripts (asterisk.Prompt records)."""
    from . import asterisk, debian_voices, fillets, fotaq
    if voice in asterisk.VOICE_BY_NAME:
        return asterisk.list_prompts(voice=voice)
    if voice in fillets.voices():
        return fillets.list_prompts(voice=voice)
    if voice in fotaq.voices():
        return fotaq.list_prompts(voice=voice)
    return debian_voices.list_prompts(voice=voice)


def real_voices(sources=REAL_SOURCES) -> list[str]:
    """The installed real voices of `sources`, sorted."""
    from . import asterisk, debian_voices, fillets, fotaq
    names = [v.name for v in asterisk.installed_voices()] if "asterisk" in sources else []
    names += [v for v in debian_voices.installed_voices()
              if debian_voices.voices()[v][0] in sources]
    names += fillets.installed_voices() if "fillets" in sources else []
    names += fotaq.installed_voices() if "fotaq" in sources else []
    return sorted(names)


def real_table(corpus_root: str | None = None, voices: tuple[str, ...] = (),
               cfg: BuildConfig | None = None) -> list[dict]:
    """Per real voice and speaker (a voice may hold several: Fish Fillets' characters):
    source, voice, speaker, language, recordings, kept, minutes (kept) and split. From a built
    corpus when `corpus_root` is given (recordings unknown: None), else by aligning the
    installed recordings of `voices` (default all) as a build would, with the split `cfg`
    (default BuildConfig()) assigns."""
    cfg = cfg or BuildConfig()
    rows = []
    if corpus_root is not None:
        corpus = store.Corpus(corpus_root)
        groups: dict[tuple[str, str], list] = {}
        for rec, secs in zip(corpus.records, corpus.durations):
            if store.is_real(rec) and (not voices or rec["voice"] in voices):
                groups.setdefault((rec["voice"], store.speaker_of(rec)), []).append((rec, secs))
        for (voice, speaker), items in sorted(groups.items()):
            rec = items[0][0]
            rows.append({"source": rec["source"], "voice": voice, "speaker": speaker,
                         "language": rec["language"], "recordings": None, "kept": len(items),
                         "minutes": round(sum(s for _, s in items) / 60, 2),
                         "split": rec["split"]})
        return rows
    for voice in voices or real_voices(cfg.real_sources):
        prompts = real_prompts(voice)
        if not prompts:
            continue
        utts, _ = _align(prompts, cfg.min_phone_frames)
        for speaker in sorted({p.speaker for p in prompts}):
            mine = [u for u in utts if u.meta["speaker"] == speaker]
            p = next(p for p in prompts if p.speaker == speaker)
            rows.append({"source": p.source, "voice": voice, "speaker": speaker,
                         "language": p.language,
                         "recordings": sum(q.speaker == speaker for q in prompts),
                         "kept": len(mine),
                         "minutes": round(sum(u.duration for u in mine) / 60, 2),
                         "split": real_split(speaker, p.source, cfg)})
    return rows


def _align(prompts, min_frames: int = 1) -> tuple[list[Utterance], int]:
    """Align recordings, keeping the confident ones -> (utterances, number rejected).

    English goes through pocketsphinx (it keeps every recording whose words are all in its
    dictionary), other languages through our CTC aligner, which keeps a recording only when
    its transcript beats 20 other transcripts of the same voice on its own audio. English of
    the RANK_TESTED_ENGLISH sources must pass that rank test too. Both aligners name
    utterances "asterisk/VOICE/LANG/ID": each is renamed after its recording's source and
    given its speaker. min_frames: the CTC aligner's shortest phone (BuildConfig)."""
    by_uid = {f"asterisk/{p.voice}/{p.language}/{p.id}": p for p in prompts}
    english = [p for p in prompts if p.language == "en"]
    other = [p for p in prompts if p.language != "en"]
    utts: list[Utterance] = []
    if english:
        from .align_sphinx import align_prompts
        timed = align_prompts(english)[0]
        tested = [u for u in timed if by_uid[u.uid].source in RANK_TESTED_ENGLISH]
        if tested:
            from .ctc_align import rank_transcripts
            failed = {u.uid for u, m in zip(tested, rank_transcripts(tested)) if not m > 0}
            timed = [u for u in timed if u.uid not in failed]
        utts += timed
    if other:
        from .ctc_align import Aligner
        from .ctc_align import align_prompts as ctc_align_prompts
        utts += ctc_align_prompts(other, aligner=Aligner(min_frames=min_frames))
    for u in utts:
        p = by_uid[u.uid]
        u.uid, u.source = f"{p.source}/{p.voice}/{p.language}/{p.id}", p.source
        u.meta["speaker"] = p.speaker
    return utts, len(prompts) - len(utts)


def _one_thread_each(threads: int) -> None:
    """Pool initializer: each worker's torch (the CTC aligner's BiGRU) and BLAS use `threads`
    threads (cores // workers), set before the worker imports torch. With torch's default of
    one thread per core in every worker, the workers' threads fight over the same cores and
    the aligner's small per-frame GRU products ran 7x slower (0.80 against 0.11 s per prompt
    of 4.4 s beside a running build, 2 cores)."""
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = str(threads)
    if "torch" in sys.modules:  # already imported by the spawn (not by this module): set it too
        sys.modules["torch"].set_num_threads(threads)


def _run(args):
    kind, root, name, cfg, seed = args
    t = time.perf_counter()
    try:
        job = voice_job if kind == "voice" else real_job
        rep = job(root, name, cfg, seed)
    except Exception as e:  # one broken voice must not kill a one-hour build
        return {"job": f"{kind}.{name}", "error": f"{type(e).__name__}: {e}"}
    rep["wall_s"] = time.perf_counter() - t
    return rep


def plan_jobs(cfg: BuildConfig) -> list[tuple[str, str]]:
    """(kind, name) for every job of this config, in a stable order."""
    from . import synth

    names = ([v.name for v in synth.list_voices(check=True) if v.engine in cfg.engines]
             if cfg.engines else [])
    if cfg.voices:
        unknown = set(cfg.voices) - set(names)
        if unknown:
            raise ValueError(f"voices not installed or not usable: {sorted(unknown)} "
                             "(run `make data-deps`; `facestream data voices` lists them)")
        names = [n for n in names if n in cfg.voices]
    jobs = [("voice", n) for n in sorted(names)]
    real = real_voices(cfg.real_sources) if cfg.real_sources else []
    if cfg.real_voices:
        unknown = set(cfg.real_voices) - set(real)
        if unknown:
            raise ValueError(f"real voices not installed or not in real_sources: "
                             f"{sorted(unknown)} (run `make data-deps`)")
        real = [n for n in real if n in cfg.real_voices]
    return jobs + [("real", n) for n in real]


@contextlib.contextmanager
def _terminate_on_sigterm():
    """While building in the main thread, SIGTERM unwinds the build like Ctrl-C does (the
    default handler kills this process alone and leaves the pool's workers running)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum, frame):
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def run_jobs(fn, args: list, workers: int, on_result, initializer=None, initargs=()) -> None:
    """on_result(fn(a)) for each a of args, as they finish (any order), fn run in `workers`
    spawn processes (1: here, in order). fn must be importable by name (spawn pickles it so).

    Interrupted (Ctrl-C, SIGTERM while in the main thread, an error in on_result), the workers
    are terminated before the exception goes on: left alone they would finish their jobs and
    record them in the corpus, even one deleted and rebuilt at the same path meanwhile."""
    pool = None
    with _terminate_on_sigterm():
        try:
            if workers == 1:
                results = map(fn, args)
            else:
                ctx = mp.get_context("spawn")
                pool = ctx.Pool(workers, maxtasksperchild=8, initializer=initializer,
                                initargs=initargs)
                results = pool.imap_unordered(fn, args)
            for r in results:
                on_result(r)
        except BaseException:
            if pool is not None:
                pool.terminate()
                pool.join()
            raise
    if pool is not None:
        pool.close()
        pool.join()


def build(root: str | Path, cfg: BuildConfig | None = None, seed: int = 0, workers: int = 0,
          progress: bool = True) -> dict:
    """Build (or resume) the corpus at `root`. Returns a report of the jobs run this time."""
    cfg = cfg or BuildConfig()
    root = str(root)
    store.init_corpus(root, cfg.to_dict(), seed)
    done = store.completed_jobs(root)
    jobs = [j for j in plan_jobs(cfg) if f"{j[0]}.{j[1]}" not in done]
    workers = workers or os.cpu_count() or 1
    t0 = time.perf_counter()
    reports = []
    args = [(kind, root, name, cfg, seed) for kind, name in jobs]
    # Real-speech jobs (alignment, slower) first so they overlap with the many voice jobs, the
    # most recordings first: FOTAQ's one job (~50 min of a core) must not start last.
    size = {name: len(real_prompts(name)) for kind, name in jobs if kind == "real"}
    args.sort(key=lambda a: (a[0] != "real", -size.get(a[2], 0)))
    total_s = 0.0

    def report(rep: dict) -> None:
        nonlocal total_s
        reports.append(rep)
        total_s += rep.get("seconds", 0.0)
        if progress:
            el = time.perf_counter() - t0
            msg = rep.get("error") or f"{rep['utterances']} utts, {rep['seconds'] / 60:.1f} min"
            print(f"[{len(reports)}/{len(args)}] {rep['job']}: {msg}  ({total_s / 3600:.2f} h in "
                  f"{el / 60:.1f} min)", flush=True)

    # Unfinished shards of an interrupted build are redone on resume.
    run_jobs(_run, args, workers, report, initializer=_one_thread_each,
             initargs=(max(1, (os.cpu_count() or 1) // workers),))
    return {"root": root, "jobs_run": len(args), "skipped_done": len(done),
            "hours_added": total_s / 3600, "wall_s": time.perf_counter() - t0,
            "errors": [r for r in reports if "error" in r], "reports": reports}

"""Build the training corpus: every offline voice speaking sentences, turned into face targets.

    make data-deps && facestream data build -o build/corpus            # ~10 h, 79 voices
    facestream data build -o build/tiny --minutes-per-voice 0.3 --voices mb-us1,flite-slt

One job per voice (and one per Asterisk language): each job synthesises sentences in the
voice's language until it has `minutes_per_voice` of speech, varying rate, pitch, voice
quality and loudness, and turns each utterance into targets with a speaker style drawn once
per voice (`rig.ArticulationStyle.sample`) and a random emotion track. Jobs run in worker
processes, write their own shards and are recorded in the manifest when done, so a killed
build resumes where it stopped and the same seed gives the same corpus.
"""
from __future__ import annotations

import hashlib
import multiprocessing as mp
import os
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from . import store
from .types import Utterance


@dataclass(frozen=True)
class BuildConfig:
    minutes_per_voice: float = 8.0  # synthetic speech per voice
    voices: tuple[str, ...] = ()  # restrict to these voice names (empty: every usable voice)
    engines: tuple[str, ...] = ("mbrola", "flite", "festival")
    asterisk: bool = True  # include the real Asterisk prompts (aligned)
    held_out_voices: tuple[str, ...] = ("mb-us2", "flite-awb")  # never in training ('test')
    held_out_sentence_fraction: float = 0.1  # of each language's sentences ('val')
    held_out_prompt_fraction: float = 0.1  # of the Asterisk prompts ('test')
    rate: tuple[float, float] = (0.8, 1.25)  # speaking-rate factor range
    pitch: tuple[float, float] = (0.85, 1.2)  # pitch factor range
    quality: tuple[float, float] = (0.92, 1.08)  # MBROLA voice-quality (formant) factor range
    loudness_db: tuple[float, float] = (-14.0, -1.0)  # peak level range
    batch: int = 4  # sentences per engine call (one prosody setting each)
    drop_missing_diphones: bool = True  # drop utterances MBROLA rendered with gaps
    shard_minutes: float = 10.0

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


def asterisk_job(root: str, language: str, cfg: BuildConfig, seed: int) -> dict:
    """Align one language's Asterisk prompts and store the confident ones."""
    from . import asterisk, expressive, rig

    job_id = f"asterisk.{language}"
    rng = np.random.default_rng(store.job_seed(seed, job_id))
    prompts = asterisk.list_prompts(language=language)
    utts, rejected = _align_language(language, prompts)
    style = rig.ArticulationStyle.sample(rng)
    got_s = 0.0
    with store.ShardWriter(root, job_id, shard_minutes=cfg.shard_minutes) as writer:
        for utt in utts:
            sid = utt.uid  # asterisk/VOICE/LANG/PROMPT_ID
            held = sentence_held_out("asterisk", int.from_bytes(
                hashlib.sha256(sid.encode()).digest()[:4], "little"), cfg.held_out_prompt_fraction)
            split = "test" if held else "train"
            targets = expressive.make_targets(utt, rng, style=style)
            utt.meta["sentence_id"] = sid
            writer.add(utt, targets, split)
            got_s += utt.duration
    return {"job": job_id, "seconds": got_s, "utterances": len(utts), "dropped": rejected}


def _align_language(language: str, prompts) -> tuple[list[Utterance], int]:
    """English through pocketsphinx, other languages through our CTC aligner."""
    if language == "en":
        from .align_sphinx import align_prompts
        utts, _ = align_prompts(prompts)
        return utts, len(prompts) - len(utts)
    from .ctc_align import align_prompts as ctc_align_prompts
    utts = list(ctc_align_prompts(prompts))
    return utts, len(prompts) - len(utts)


def _run(args):
    kind, root, name, cfg, seed = args
    t = time.perf_counter()
    try:
        rep = voice_job(root, name, cfg, seed) if kind == "voice" else asterisk_job(root, name, cfg, seed)
    except Exception as e:  # one broken voice must not kill a one-hour build
        return {"job": f"{kind}.{name}", "error": f"{type(e).__name__}: {e}"}
    rep["wall_s"] = time.perf_counter() - t
    return rep


def plan_jobs(cfg: BuildConfig) -> list[tuple[str, str]]:
    """(kind, name) for every job of this config, in a stable order."""
    from . import synth

    names = [v.name for v in synth.list_voices(check=True) if v.engine in cfg.engines]
    if cfg.voices:
        unknown = set(cfg.voices) - set(names)
        if unknown:
            raise ValueError(f"voices not installed or not usable: {sorted(unknown)} "
                             "(run `make data-deps`; `facestream data voices` lists them)")
        names = [n for n in names if n in cfg.voices]
    jobs = [("voice", n) for n in sorted(names)]
    if cfg.asterisk:
        from . import asterisk
        langs = sorted({p.language for p in asterisk.list_prompts()})
        jobs += [("asterisk", lang) for lang in langs]
    return jobs


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
    # Asterisk jobs (alignment, slower) first so they overlap with the many voice jobs.
    args.sort(key=lambda a: a[0] != "asterisk")
    if workers == 1:
        results = map(_run, args)
    else:
        ctx = mp.get_context("spawn")
        pool = ctx.Pool(workers, maxtasksperchild=8)
        results = pool.imap_unordered(_run, args)
    total_s = 0.0
    for i, rep in enumerate(results, 1):
        reports.append(rep)
        total_s += rep.get("seconds", 0.0)
        if progress:
            el = time.perf_counter() - t0
            msg = rep.get("error") or f"{rep['utterances']} utts, {rep['seconds'] / 60:.1f} min"
            print(f"[{i}/{len(args)}] {rep['job']}: {msg}  ({total_s / 3600:.2f} h in {el / 60:.1f} min)",
                  flush=True)
    if workers != 1:
        pool.close()
        pool.join()
    return {"root": root, "jobs_run": len(args), "skipped_done": len(done),
            "hours_added": total_s / 3600, "wall_s": time.perf_counter() - t0,
            "errors": [r for r in reports if "error" in r], "reports": reports}

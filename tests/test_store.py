import json
import pickle

import numpy as np
import pytest

from facestream import vocab
from facestream.training.corpus import PhoneSeg, Targets, Utterance
from facestream.training.corpus.store import (
    Corpus, CorpusError, ShardWriter, assign_real_split, assign_split, choose_held_out,
    completed_jobs, forget_jobs, init_corpus, is_real, job_seed, read_manifest, real_speaker_split,
    speaker_of,
)
from facestream.training.phonemes import INVENTORY, PHONE_INDEX

SR, HOP = vocab.SAMPLE_RATE, vocab.HOP_SAMPLES
PHONES = ["sil", "hh", "ah", "l", "ow", "m", "iy", "sil"]


def make_pair(rng, uid, voice="mb-us1", source="mbrola", language="en", seconds=None):
    """A random utterance (odd length, so the last frame is partial) and matching targets."""
    n = int((seconds or rng.uniform(0.3, 1.2)) * SR) + int(rng.integers(1, HOP))
    audio = (rng.uniform(-0.9, 0.9, n)).astype(np.float32)
    edges = np.sort(rng.uniform(0, n / SR, len(PHONES) - 1))
    bounds = [0.0, *edges.tolist(), n / SR]
    phones = [PhoneSeg(bounds[i], bounds[i + 1], p) for i, p in enumerate(PHONES)]
    utt = Utterance(uid=uid, audio=audio, phones=phones, source=source, voice=voice,
                    language=language, text=f"text of {uid}", meta={"rate": 1.1, "tags": ["a"]})
    t = utt.num_frames()
    emo = rng.random((t, 7)).astype(np.float32)
    tg = Targets(arkit=rng.random((t, 52), dtype=np.float32),
                 jaw=rng.uniform(0, 0.3, (t, 3)).astype(np.float32),
                 neck=rng.uniform(-0.1, 0.1, (t, 3)).astype(np.float32),
                 emotion=emo / emo.sum(1, keepdims=True),
                 intensity=rng.random(t, dtype=np.float32),
                 phone_ids=rng.integers(0, len(INVENTORY), t).astype(np.int16))
    return utt, tg


def run_job(root, job_id, seed, n=5, crash_after=None, shard_minutes=1 / 60):
    """What a builder does for one job; shard_minutes=1s gives several shards per job."""
    rng = np.random.default_rng(job_seed(seed, job_id))
    pairs = [make_pair(rng, f"{job_id}/{i:03d}") for i in range(n)]
    with ShardWriter(root, job_id, shard_minutes=shard_minutes) as w:
        for i, (u, t) in enumerate(pairs):
            if crash_after is not None and i == crash_after:
                raise KeyboardInterrupt("killed")
            w.add(u, t, "train" if i % 3 else "val")
    return pairs


def build(root, jobs=("a", "b", "c"), seed=7):
    init_corpus(root, {"voices": ["mb-us1"], "n": 5}, seed)
    return {j: run_job(root, j, seed) for j in jobs}


def test_round_trip_is_exact_within_storage_precision(tmp_path):
    pairs = build(tmp_path)
    corpus = Corpus(tmp_path)
    assert len(corpus) == 15 and len(corpus.shards) > 3
    by_uid = {u.uid: (u, t) for ps in pairs.values() for u, t in ps}
    for utt, tg in corpus:
        u0, t0 = by_uid[utt.uid]
        assert utt.audio.dtype == np.float32 and utt.audio.shape == u0.audio.shape
        np.testing.assert_allclose(utt.audio, u0.audio, atol=0.51 / 32767)
        assert [(p.start, p.end, p.phone) for p in utt.phones] == \
            [(p.start, p.end, p.phone) for p in u0.phones]
        assert (utt.source, utt.voice, utt.language, utt.text, utt.meta) == \
            (u0.source, u0.voice, u0.language, u0.text, u0.meta)
        for key in ("arkit", "jaw", "neck", "emotion", "intensity"):
            a, b = getattr(tg, key), getattr(t0, key)
            assert a.dtype == np.float32 and a.shape == b.shape
            np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-4)
        np.testing.assert_array_equal(tg.phone_ids, t0.phone_ids)
        assert tg.phone_ids.dtype == np.int16
    u, _ = corpus[-1]
    assert u.uid == corpus.records[-1]["uid"]
    with pytest.raises(IndexError):
        corpus[len(corpus)]


def test_filters_and_stats(tmp_path):
    init_corpus(tmp_path, {}, 0)
    rng = np.random.default_rng(0)
    with ShardWriter(tmp_path, "mixed") as w:
        rows = [("mb-us1", "mbrola", "en"), ("mb-fr1", "mbrola", "fr"),
                ("flite-rms", "flite", "en"), ("flite-rms", "flite", "en")]
        for i, (voice, src, lang) in enumerate(rows):
            u, t = make_pair(rng, f"u{i}", voice=voice, source=src, language=lang, seconds=1.0)
            t.phone_ids[:] = PHONE_INDEX["aa"] if i == 0 else PHONE_INDEX["sil"]
            t.emotion[:] = np.eye(7, dtype=np.float32)[1 if i == 0 else 0]
            w.add(u, t, ("train", "val", "test", "train")[i])
    c = Corpus(tmp_path)
    assert len(c.select(split="train")) == 2
    assert len(c.select(source="flite", split="train")) == 1
    assert len(c.select(voice=["mb-us1", "mb-fr1"])) == 2
    assert len(c.select(language="fr")) == 1
    assert len(c.select(where=lambda r: r["uid"] == "u3")) == 1
    sub = c.select(source="mbrola").select(language="en")
    assert [r["uid"] for r in sub.records] == ["u0"] and sub[0][0].uid == "u0"
    with pytest.raises(ValueError, match="split"):
        c.select(split="training")

    s = c.stats()
    assert s.utterances == 4 and s.hours == pytest.approx(c.durations.sum() / 3600)
    assert set(s.hours_by_source) == {"mbrola", "flite"}
    assert s.hours_by_voice["flite-rms"] == pytest.approx(2 * s.hours_by_voice["mb-fr1"], rel=0.01)
    assert s.utterances_by_split == {"train": 2, "val": 1, "test": 1}
    t0 = c[0][1]
    assert s.phone_frames["aa"] == len(t0.phone_ids)
    assert sum(s.phone_frames.values()) == sum(len(t.phone_ids) for _, t in c)
    assert s.phone_segments["hh"] == 4 and s.phone_segments["sil"] == 8
    assert s.dominant_emotion_frames["happy"] == len(t0.phone_ids)
    assert sum(s.emotion_share.values()) == pytest.approx(1.0)
    s1 = c.select(voice="mb-us1").stats()
    assert s1.phone_frames["sil"] == 0 and s1.emotion_share["happy"] == pytest.approx(1.0, abs=1e-3)


def test_resume_after_crash_ignores_partial_job_and_temp_files(tmp_path):
    init_corpus(tmp_path, {"n": 5}, 7)
    run_job(tmp_path, "a", 7)
    with pytest.raises(KeyboardInterrupt):
        run_job(tmp_path, "b", 7, crash_after=4)  # shards of "b" written, job not committed
    shard_dir = tmp_path / "shards"
    assert any(p.name.startswith("b-") for p in shard_dir.iterdir())
    (shard_dir / "b-0009.npz.tmp").write_bytes(b"PK\x03\x04 half a shard")  # killed mid-write
    (shard_dir / "c-0000.npz.tmp").write_bytes(b"garbage")

    assert completed_jobs(tmp_path) == {"a"}
    corpus = Corpus(tmp_path)
    assert len(corpus) == 5 and all(r["uid"].startswith("a/") for r in corpus.records)

    # the builder restarts: same config and seed, skips "a", redoes "b", does "c"
    init_corpus(tmp_path, {"n": 5}, 7)
    for job in ("a", "b", "c"):
        if job not in completed_jobs(tmp_path):
            run_job(tmp_path, job, 7)
    assert completed_jobs(tmp_path) == {"a", "b", "c"}
    assert not list(shard_dir.glob("b-*.tmp"))
    corpus = Corpus(tmp_path)
    assert len(corpus) == 15 and corpus.verify() == []

    # and it equals a build that was never interrupted, byte for byte
    clean = tmp_path / "clean"
    build(clean, seed=7, jobs=("a", "b", "c"))
    m1, m2 = read_manifest(tmp_path), read_manifest(clean)
    assert m1["jobs"]["b"]["sha256"] == m2["jobs"]["b"]["sha256"]


def test_forgotten_jobs_are_built_again_and_replace_their_shards(tmp_path):
    init_corpus(tmp_path, {"n": 5}, 7)
    run_job(tmp_path, "voice.mb-es1", 7)
    run_job(tmp_path, "voice.mb-us1", 7)
    rng = np.random.default_rng(0)
    with ShardWriter(tmp_path, "real.asterisk-es-co", shard_minutes=1.0) as w:
        w.add(*make_pair(rng, "co/1", voice="asterisk-es-co", source="asterisk",
                         language="es"), "test")
    before = {p.name for p in (tmp_path / "shards").iterdir()}
    assert forget_jobs(tmp_path, languages=["de"]) == []
    assert forget_jobs(tmp_path, ["voice.mb-es*"], ["es"]) == ["real.asterisk-es-co",
                                                                "voice.mb-es1"]
    assert completed_jobs(tmp_path) == {"voice.mb-us1"}
    assert len(Corpus(tmp_path)) == 5  # a forgotten job's utterances are no longer read
    run_job(tmp_path, "voice.mb-es1", 7, n=2)  # its writer replaces the old shards
    names = {p.name for p in (tmp_path / "shards").iterdir()}
    assert names < before and len(Corpus(tmp_path)) == 7 and Corpus(tmp_path).verify() == []


def test_rewriting_a_complete_job_or_another_config_is_refused(tmp_path):
    build(tmp_path, jobs=("a",))
    with pytest.raises(CorpusError, match="already complete"):
        ShardWriter(tmp_path, "a")
    with pytest.raises(CorpusError, match="another config or seed"):
        init_corpus(tmp_path, {"voices": ["mb-us1"], "n": 5}, seed=8)
    with pytest.raises(CorpusError, match="manifest.json is missing"):
        Corpus(tmp_path / "nowhere")


def test_build_is_deterministic(tmp_path):
    build(tmp_path / "x")
    build(tmp_path / "y")
    assert (tmp_path / "x" / "manifest.json").read_bytes() == \
        (tmp_path / "y" / "manifest.json").read_bytes()
    for p in (tmp_path / "x" / "shards").iterdir():
        assert p.read_bytes() == (tmp_path / "y" / "shards" / p.name).read_bytes()
    assert job_seed(7, "a") == job_seed(7, "a") != job_seed(7, "b") != job_seed(8, "a")


def test_missing_shard_and_bad_input_give_clear_errors(tmp_path):
    build(tmp_path, jobs=("a",))
    rng = np.random.default_rng(0)
    u, t = make_pair(rng, "x")
    with ShardWriter(tmp_path, "bad") as w:
        with pytest.raises(ValueError, match="T = "):
            short = Targets(t.arkit[:-1], t.jaw, t.neck, t.emotion, t.intensity, t.phone_ids)
            w.add(u, short, "train")
        with pytest.raises(ValueError, match="split"):
            w.add(u, t, "holdout")
        with pytest.raises(ValueError, match="peak <= 1"):
            w.add(Utterance("y", u.audio * 3, u.phones, "s", "v", "en", ""), t, "train")
        w.add(u, t, "train")
        with pytest.raises(ValueError, match="added twice"):
            w.add(u, t, "train")
    m = json.loads((tmp_path / "manifest.json").read_text())
    (tmp_path / m["jobs"]["a"]["shards"][0]).unlink()
    with pytest.raises(CorpusError, match="missing"):
        Corpus(tmp_path)


def test_corpus_pickles_for_dataloader_workers(tmp_path):
    build(tmp_path, jobs=("a",))
    c = Corpus(tmp_path).select(split="train")
    c[0]
    c2 = pickle.loads(pickle.dumps(c))
    np.testing.assert_array_equal(c2[1][0].audio, c[1][0].audio)


def test_split_policy():
    held_v, held_s = {"mb-us2", "flite-slt"}, {"asterisk/p07", "en/0042"}
    assert assign_split("mb-us1", "en/0001", held_v, held_s) == "train"
    assert assign_split("mb-us2", "en/0001", held_v, held_s) == "test"
    assert assign_split("mb-us2", "en/0042", held_v, held_s) == "test"
    assert assign_split("mb-us1", "en/0042", held_v, held_s) == "val"
    assert assign_split("asterisk-en", "asterisk/p07", held_v, held_s) == "val"

    voices = {"mbrola": ["mb-us1", "mb-us2", "mb-fr1"], "flite": ["flite-rms", "flite-slt"],
              "festival": ["kal"]}
    prompts = [f"asterisk/p{i:03d}" for i in range(95)]
    h = choose_held_out(voices, prompts, seed=3)
    assert len(h.voices & set(voices["mbrola"])) == 1 and len(h.voices & set(voices["flite"])) == 1
    assert not h.voices & {"kal"} and len(h.sentence_ids) == 10 and h.sentence_ids <= set(prompts)
    assert choose_held_out(dict(reversed(voices.items())), prompts[::-1], seed=3) == h
    assert choose_held_out(voices, prompts, seed=4) != h
    # the invariant the policy exists for: nothing held out is ever trained on
    for v in [x for vs in voices.values() for x in vs]:
        for sid in prompts[:20]:
            if assign_split(v, sid, h.voices, h.sentence_ids) == "train":
                assert v not in h.voices and sid not in h.sentence_ids
    with pytest.raises(ValueError, match="at least two"):
        choose_held_out({"flite": ["flite-rms"]}, prompts, seed=0)
    assert json.loads(json.dumps(h.as_dict()))["voices"] == sorted(h.voices)


def test_real_speech_is_split_by_speaker_and_selectable(tmp_path):
    test, val = {"armelle-desjardins", "kde-de"}, {"menardi"}
    assert assign_real_split("allison-smith", test, val) == "train"
    assert assign_real_split("kde-de", test, val) == "test"
    assert assign_real_split("menardi", test, val) == "val"
    with pytest.raises(ValueError, match="both"):
        assign_real_split("kde-de", test, {"kde-de"})
    with pytest.raises(ValueError, match="speaker key"):
        assign_real_split("", test, val)
    # a source held out whole: all its speakers 'test', other sources by speaker
    assert assign_real_split("fotaq-joe", test, val, "fotaq", {"fotaq"}) == "test"
    assert assign_real_split("allison-smith", test, val, "asterisk", {"fotaq"}) == "train"
    with pytest.raises(ValueError, match="every speaker of source"):
        assign_real_split("menardi", test, val, "fotaq", {"fotaq"})

    init_corpus(tmp_path, {}, 0)
    rng = np.random.default_rng(0)
    rows = [  # voice, source, speaker, split (a real speaker's split is its speaker's)
        ("asterisk-en-allison", "asterisk", "allison-smith"),
        ("asterisk-es-allison", "asterisk", "allison-smith"),
        ("asterisk-fr-armelle", "asterisk", "armelle-desjardins"),
        ("klettres-de", "klettres", "kde-de"), ("asterisk-it-menardi", "asterisk", "menardi"),
        ("mb-us2", "mbrola", None)]
    with ShardWriter(tmp_path, "mixed") as w:
        for i, (voice, src, speaker) in enumerate(rows):
            u, t = make_pair(rng, f"u{i}", voice=voice, source=src, seconds=0.3)
            if speaker:
                u.meta["speaker"] = speaker
            w.add(u, t, assign_real_split(speaker, test, val) if speaker else "test")
    c = Corpus(tmp_path)
    held = c.select(split="test-real-speakers")
    assert {r["voice"] for r in held.records} == {"asterisk-fr-armelle", "klettres-de"}
    assert {r["voice"] for r in c.select(split="val-real-speakers").records} == \
        {"asterisk-it-menardi"}
    # the synthetic held-out voice stays in plain 'test', not in the real speakers' split
    assert "mb-us2" in {r["voice"] for r in c.select(split="test").records}
    assert [real_speaker_split(r) for r in c.records] == \
        [None, None, "test-real-speakers", "test-real-speakers", "val-real-speakers", None]
    assert [is_real(r) for r in c.records] == [True] * 5 + [False]
    assert speaker_of(c.records[1]) == "allison-smith" and speaker_of(c.records[5]) == "mb-us2"
    trained = {speaker_of(r) for r in c.select(split="train").records}
    assert trained == {"allison-smith"} and not trained & (test | val)


def test_a_source_held_out_whole_is_evaluated_apart(tmp_path):
    """evaluate.load_sequences labels the test speech of a source the build held out whole
    (config test_real_sources) apart from the other held-out speakers, and `limit` applies
    to each label, so 40 FOTAQ clips cannot crowd out a 2-clip GSM speaker."""
    from facestream.training.evaluate import load_sequences
    init_corpus(tmp_path, {"test_real_sources": ["fotaq"]}, 0)
    rng = np.random.default_rng(1)
    rows = [("asterisk-fr-armelle", "asterisk", "armelle-desjardins", "test")] * 2
    rows += [("fotaq-en", "fotaq", f"fotaq-c{i % 5}", "test") for i in range(40)]
    rows += [("asterisk-en-allison", "asterisk", "allison-smith", "train")]
    with ShardWriter(tmp_path, "mixed") as w:
        for i, (voice, src, speaker, split) in enumerate(rows):
            u, t = make_pair(rng, f"u{i}", voice=voice, source=src, seconds=0.2)
            u.meta["speaker"] = speaker
            w.add(u, t, split)
    seqs = load_sequences(str(tmp_path), splits=("test",), limit=4)
    labels = [s.split for s in seqs]
    assert labels.count("test-real-speakers") == 2
    assert labels.count("test-real-speakers (fotaq)") == 4
    assert {s.voice for s in seqs if s.split == "test-real-speakers"} == {"armelle-desjardins"}
    # a corpus built without the setting labels all held-out real speech alike
    (tmp_path / "manifest.json").write_text((tmp_path / "manifest.json").read_text()
                                            .replace('"test_real_sources"', '"other"'))
    assert {s.split for s in load_sequences(str(tmp_path), splits=("test",))} == \
        {"test-real-speakers"}


def test_shards_are_plain_npz_with_aligned_arrays(tmp_path):
    from facestream.training.corpus.store import _open_shard
    build(tmp_path, jobs=("a",))
    for rel in Corpus(tmp_path).shards:
        mapped = _open_shard(tmp_path / rel)
        with np.load(tmp_path / rel, allow_pickle=False) as z:
            assert set(z.files) == set(mapped)
            for k in z.files:
                np.testing.assert_array_equal(z[k], mapped[k])
                assert mapped[k].ctypes.data % 64 == 0 and not mapped[k].flags.writeable

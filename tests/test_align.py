"""Forced alignment: Viterbi (exact), pocketsphinx on real English, the phone aligner on
held-out synthetic speech with known timing."""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from facestream import audio, vocab
from facestream.training.phonemes import PHONE_INDEX, PHONES
from facestream.training.corpus import ctc_align
from facestream.training.corpus.align_sphinx import normalise, number_words


# ---- Viterbi on a synthetic score matrix ------------------------------------------------------

def _emit(truth: list[int], num_phones: int = 5, off: float = -4.0) -> np.ndarray:
    e = np.full((len(truth), num_phones), off)
    e[np.arange(len(truth)), truth] = 0.0
    return e


def test_viterbi_recovers_the_path_exactly_with_optional_silences():
    # states: sil? A B sil? C sil?  (phone ids sil=0, A=1, B=2, C=3)
    states, optional = [0, 1, 2, 0, 3, 0], [True, False, False, True, False, True]
    truth = [0, 0, 1, 1, 1, 2, 2, 0, 3, 3, 3, 3]
    path = ctc_align.viterbi(_emit(truth), states, optional)
    assert path.tolist() == [0, 0, 1, 1, 1, 2, 2, 3, 4, 4, 4, 4]
    # the same phones with no pauses: every optional silence is skipped
    path = ctc_align.viterbi(_emit([1, 1, 2, 2, 2, 3, 3, 3]), states, optional)
    assert path.tolist() == [1, 1, 2, 2, 2, 4, 4, 4]


def test_viterbi_keeps_repeated_phones_apart_and_gives_each_a_frame():
    # a geminate "t t" must take two segments even where the scores say one long t
    states, optional = [0, 1, 1, 0], [True, False, False, True]
    path = ctc_align.viterbi(_emit([1, 1, 1, 1]), states, optional)
    assert path[0] == 1 and path[-1] == 2 and sorted(set(path.tolist())) == [1, 2]
    segs = ctc_align.frames_to_segments(path, states, 0.04)
    assert [s.phone for s in segs] == [ctc_align.INVENTORY[1].symbol] * 2
    assert segs[0].start == 0.0 and segs[-1].end == 0.04


def test_viterbi_minimum_phone_length():
    """min_frames: a phone that cannot be skipped takes at least that many frames, even where
    the scores give it one; optional silences still take one or none; too few frames for the
    minimum lower it instead of failing; min_frames=1 is the plain path."""
    states, optional = [0, 1, 2, 3, 0], [True, False, False, False, True]
    truth = [0, 0, 1, 1, 1, 1, 2, 3, 3, 3, 3, 0]  # B scored for a single frame
    plain = ctc_align.viterbi(_emit(truth), states, optional)
    assert plain.tolist() == [0, 0, 1, 1, 1, 1, 2, 3, 3, 3, 3, 4]
    assert ctc_align.viterbi(_emit(truth), states, optional, min_frames=1).tolist() == plain.tolist()
    path = ctc_align.viterbi(_emit(truth), states, optional, min_frames=3)
    runs = {j: int((path == j).sum()) for j in set(path.tolist())}
    assert runs[1] >= 3 and runs[2] >= 3 and runs[3] >= 3
    assert path.tolist() == sorted(path.tolist())  # monotonic
    assert runs.get(0, 0) <= 2 and runs.get(4, 0) <= 1
    # 4 frames for 3 phones: the minimum falls to one frame each, as before
    short = ctc_align.viterbi(_emit([1, 2, 3, 3]), states, optional, min_frames=3)
    assert short.tolist() == [1, 2, 3, 3]
    # a skipped optional silence between two phones still works with copies
    states, optional = [1, 0, 2], [False, True, False]
    path = ctc_align.viterbi(_emit([1, 1, 1, 2, 2, 2, 2]), states, optional, min_frames=3)
    assert path.tolist() == [0, 0, 0, 2, 2, 2, 2]


def test_viterbi_errors():
    with pytest.raises(ValueError, match="empty"):
        ctc_align.viterbi(_emit([0, 1]), [], [])
    with pytest.raises(ValueError, match="too short"):
        ctc_align.viterbi(_emit([1, 2]), [1, 2, 3], [False, False, False])


def test_segments_frames_round_trip():
    from facestream.training.corpus.types import PhoneSeg
    segs = [PhoneSeg(0.0, 0.05, "sil"), PhoneSeg(0.05, 0.12, "a"), PhoneSeg(0.12, 0.2, "m")]
    ids = ctc_align.segments_to_frames(segs, 20)
    assert ids.tolist() == [PHONE_INDEX["sil"]] * 5 + [PHONE_INDEX["a"]] * 7 + [PHONE_INDEX["m"]] * 8


# ---- the phone aligner's input checks (an untrained model is enough) ----------------------------

@pytest.fixture(scope="module")
def untrained():
    pytest.importorskip("torch")
    from facestream.training.corpus.ctc_align.model import _build_model
    cfg = ctc_align.AlignerConfig()
    net = _build_model(cfg)
    return ctc_align.Aligner(ctc_align.PhoneModel(net, cfg, np.zeros(len(cfg.phones))))


def test_aligner_rejects_empty_audio_and_empty_text(untrained):
    with pytest.raises(ValueError, match="too short"):
        untrained.align(np.zeros(0, np.float32), ["a", "m"])
    with pytest.raises(ValueError, match="samples, channels"):
        untrained.align(np.zeros((2, 16000, 1), np.float32), ["a"])
    with pytest.raises(ValueError, match="NaN"):
        untrained.align(np.full(16000, np.nan, np.float32), ["a"])
    with pytest.raises(ValueError, match="empty"):
        untrained.align(np.zeros(16000, np.float32), [])
    with pytest.raises(ValueError, match="empty text"):
        untrained.align_text(np.zeros(16000, np.float32), "  ", "es")
    with pytest.raises(ValueError, match="not an inventory phone"):
        untrained.align(np.zeros(16000, np.float32), ["zz"])


def test_aligner_reads_int16_and_stereo_as_audio_to_mono_float32_does(untrained):
    x = np.random.default_rng(1).normal(0, 0.1, (8000, 2)).astype(np.float32)
    pcm = np.round(x * 20000).astype(np.int16)
    mono = untrained.model.log_posteriors(audio.to_mono_float32(pcm))
    assert np.array_equal(untrained.model.log_posteriors(pcm), mono)


def test_aligner_filterbank_is_audio_py_s_with_unit_sum_filters():
    fb = ctc_align.mel_filterbank(ctc_align.AlignerConfig())
    assert fb.shape == (64, audio.N_FFT // 2 + 1)
    np.testing.assert_allclose(fb.sum(1), 1.0, rtol=1e-6)


def test_untrained_aligner_still_returns_contiguous_cover(untrained):
    audio = np.random.default_rng(0).normal(0, 0.1, 8000).astype(np.float32)
    segs = untrained.align(audio, [["a", "m"], ["iy"]])
    assert segs[0].start == 0.0 and segs[-1].end == pytest.approx(0.5)
    assert all(a.end == b.start for a, b in zip(segs, segs[1:]))
    assert [s.phone for s in segs if s.phone != "sil"] == ["a", "m", "iy"]


def test_checkpoint_round_trip_keeps_config(tmp_path, untrained):
    path = tmp_path / "a.pt"
    untrained.model.save(path, {"note": "test"})
    m = ctc_align.PhoneModel.load(path)
    assert m.cfg == untrained.model.cfg and m.meta == {"note": "test"}


# ---- English text normalisation for pocketsphinx ----------------------------------------------

def test_normalise_numbers_and_symbols():
    assert number_words(42) == "forty two" and number_words(500) == "five hundred"
    assert normalise("Press 1 or # for 28.8 kilobit") == [
        "press", "one", "or", "pound", "for", "twenty", "eight", "point", "eight", "kilobit"]
    assert normalise("extension 1234") == ["extension", "one", "two", "three", "four"]
    assert normalise("Call-Forward on Busy.") == ["call", "forward", "on", "busy"]


# ---- pocketsphinx on a real prompt --------------------------------------------------------------

def test_pocketsphinx_aligns_an_asterisk_prompt_contiguously():
    pytest.importorskip("pocketsphinx")
    from facestream.training.corpus import asterisk
    from facestream.training.corpus.align_sphinx import SphinxAligner, align_prompt
    prompts = {p.id: p for p in asterisk.list_prompts("en")}
    if "agent-pass" not in prompts:
        pytest.skip("asterisk-core-sounds-en(-g722) not installed (make data-deps)")
    aligner = SphinxAligner()
    u = align_prompt(prompts["agent-pass"], aligner)
    assert u.source == "asterisk" and u.voice == "asterisk-en-allison"
    assert u.phones[0].start == 0.0 and u.phones[-1].end == pytest.approx(u.duration)
    assert all(a.end == pytest.approx(b.start) and a.end > a.start
               for a, b in zip(u.phones, u.phones[1:]))
    assert all(s.phone in PHONES for s in u.phones)
    speech = [s.phone for s in u.phones if s.phone != "sil"]
    assert speech[:4] == ["p", "l", "iy", "z"]  # "please"
    assert u.meta["align_score"] < 0 and [w[0] for w in u.meta["words"]][0] == "please"
    with pytest.raises(ValueError, match="non-empty"):
        aligner.align(np.zeros(0, np.float32), "please")
    with pytest.raises(ValueError, match="no words"):
        aligner.align(np.zeros(16000, np.float32), " ... ")


# ---- the shipped phone aligner on held-out MBROLA voices ----------------------------------------

def test_aligner_recovers_mbrola_boundaries_on_a_held_out_voice():
    pytest.importorskip("torch")
    if not ctc_align.DEFAULT_WEIGHTS.exists():
        pytest.skip(f"no shipped aligner weights at {ctc_align.DEFAULT_WEIGHTS}")
    if shutil.which("mbrola") is None or shutil.which("espeak-ng") is None:
        pytest.skip("mbrola / espeak-ng not installed (make data-deps)")
    aligner = ctc_align.Aligner()
    held = {lang: vs for lang, vs in ctc_align.HELDOUT_VOICES.items()}
    trained = {v for vs in aligner.model.meta.get("train_voices", {}).values() for v in vs}
    sentences = {"fr": ["Veuillez composer le numéro de votre correspondant.",
                        "Le service demandé est momentanément indisponible."],
                 "es": ["Por favor ingrese su número de extensión.",
                        "Todas las líneas están ocupadas en este momento."]}
    errs = []
    for lang, texts in sentences.items():
        voice = held[lang][0]
        assert voice not in trained
        for text in texts:
            u = ctc_align.synth_utterance(voice, text)
            if u is None:
                pytest.skip(f"{voice} cannot say {text!r} (missing diphones)")
            segs = aligner.align(u.audio, ctc_align.words_of(u.phones))
            errs.append(ctc_align.boundary_errors(u.phones, segs))
            assert segs[-1].end == pytest.approx(u.duration)
    mean_ms = 1000 * float(np.concatenate(errs).mean())
    assert mean_ms < 30.0, f"mean boundary error {mean_ms:.1f} ms on held-out voices"


def test_shipped_aligner_gives_the_recorded_alignments():
    """tests/data/ctc_align_reference.npz: alignments by the shipped weights recorded before
    ctc_align became a package (example clip read by espeak-ng's English; held-out MBROLA
    fr7 and es2 clips read by espeak-ng and along their true phones). Frame phones and
    segments must not move; the phone strings come from the recording, so espeak-ng's
    version does not matter here (test_phonemize_reproduces_the_recorded_readings)."""
    pytest.importorskip("torch")
    import json
    import soundfile as sf
    if not ctc_align.DEFAULT_WEIGHTS.exists():
        pytest.skip(f"no shipped aligner weights at {ctc_align.DEFAULT_WEIGHTS}")
    ref = np.load(Path(__file__).parent / "data" / "ctc_align_reference.npz")
    aligner = ctc_align.Aligner()
    example, sr = sf.read(Path(audio.__file__).parent / "assets" / "example_speech.flac",
                          dtype="int16")
    assert sr == vocab.SAMPLE_RATE
    keys = sorted(k[:-len("/meta")] for k in ref.files if k.endswith("/meta"))
    assert len(keys) == 5
    for key in keys:
        meta = json.loads(str(ref[key + "/meta"]))
        clip = example if key == "example_en" else ref[key.replace("_truewords", "") + "/audio"]
        al = aligner.align_detailed(clip, meta["words"])
        assert np.array_equal(al.frame_phones, ref[key + "/frame_phones"]), key
        assert [[s.start, s.end, s.phone] for s in al.phones] == meta["segments"], key
        assert al.confidence == pytest.approx(meta["confidence"], rel=1e-5), key


def test_an_aligner_without_the_lenited_b_scores_it_as_b():
    # The shipped weights predate "bh": [β] takes /b/'s output, so relabelling a Spanish
    # reading moves no boundary.
    import json
    ref = np.load(Path(__file__).parent / "data" / "ctc_align_reference.npz")
    meta = json.loads(str(ref["mbrola_es2/meta"]))
    clip = ref["mbrola_es2/audio"]
    lenited = [["bh" if p == "b" and i else p for i, p in enumerate(w)] for w in meta["words"]]
    assert lenited != meta["words"]
    aligner = ctc_align.Aligner()
    a, b = aligner.align_detailed(clip, meta["words"]), aligner.align_detailed(clip, lenited)
    assert [(s.start, s.end) for s in a.phones] == [(s.start, s.end) for s in b.phones]
    assert a.confidence == pytest.approx(b.confidence)
    assert sum(s.phone == "bh" for s in b.phones) == sum(map(lambda w: w.count("bh"), lenited))


def test_phonemize_reproduces_the_recorded_readings():
    import json
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng not installed (make data-deps)")
    ref = np.load(Path(__file__).parent / "data" / "ctc_align_reference.npz")
    for key in ("example_en", "mbrola_fr7", "mbrola_es2"):
        meta = json.loads(str(ref[key + "/meta"]))
        words = ctc_align.phonemize(ctc_align.speakable(meta["text"]), meta["language"])
        # recorded before Spanish [β] had its own phone ("bh", an allophone of /b/)
        as_recorded = [[PHONES[p].allophone_of or p for p in w] for w in words]
        assert as_recorded == meta["words"], key


def test_shipped_weights_are_small_and_carry_their_config():
    pytest.importorskip("torch")
    if not ctc_align.DEFAULT_WEIGHTS.exists():
        pytest.skip(f"no shipped aligner weights at {ctc_align.DEFAULT_WEIGHTS}")
    assert ctc_align.DEFAULT_WEIGHTS.stat().st_size < 5e6
    m = ctc_align.PhoneModel.load()
    assert m.cfg.sample_rate == vocab.SAMPLE_RATE and m.cfg.hop == vocab.HOP_SAMPLES
    assert m.log_prior.shape == (len(m.cfg.phones),)


# ---- phonemisation for the languages without a good MBROLA reading ------------------------------

def test_phonemize_spanish_and_russian_through_espeak_ipa():
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng not installed (make data-deps)")
    words = ctc_align.phonemize("perro numero", "es")
    assert words == [["p", "ey", "rr", "oh"], ["n", "uw", "m", "ey", "dx", "oh"]]
    # /b/ is a stop after a pause or a nasal, [β] elsewhere (espeak-ng's rule, docs/rig.md)
    assert ctc_align.phonemize("boca lobo un vaso el vaso", "es") == [
        ["b", "oh", "k", "a"], ["l", "oh", "bh", "oh"], ["uw", "m"], ["b", "a", "s", "oh"],
        ["ey", "l"], ["bh", "a", "s", "oh"]]
    words = ctc_align.phonemize("Нажмите решетку", "ru")
    assert len(words) == 2 and all(p in PHONES for w in words for p in w)
    with pytest.raises(ValueError, match="empty"):
        ctc_align.phonemize(" ", "fr")


def test_speakable_drops_unpronounced_typography():
    assert ctc_align.speakable("1 / 2 - «oui» “non”") == "1, 2, oui non"


def test_matched_boundary_errors_compare_shared_phones_only():
    from facestream.training.corpus.types import PhoneSeg
    ref = [PhoneSeg(0, 0.1, "a"), PhoneSeg(0.1, 0.2, "m"), PhoneSeg(0.2, 0.3, "iy")]
    hyp = [PhoneSeg(0, 0.12, "a"), PhoneSeg(0.12, 0.15, "n"), PhoneSeg(0.15, 0.22, "m"),
           PhoneSeg(0.22, 0.3, "iy")]
    errs = ctc_align.matched_boundary_errors(ref, hyp)
    assert sorted(np.round(errs, 3).tolist()) == [0.0, 0.0, 0.02, 0.02, 0.02, 0.05]


def test_align_prompts_keeps_confident_non_english_prompts():
    pytest.importorskip("torch")
    if not ctc_align.DEFAULT_WEIGHTS.exists():
        pytest.skip(f"no shipped aligner weights at {ctc_align.DEFAULT_WEIGHTS}")
    from facestream.training.corpus import asterisk
    prompts = [p for p in asterisk.list_prompts(voice="asterisk-it-carlo") if p.id.startswith("digits/")]
    if len(prompts) < 30:
        pytest.skip("asterisk-core-sounds-it(-g722) not installed (make data-deps)")
    report: dict = {}
    utts = ctc_align.align_prompts(prompts[:40], keep_all=True, report=report)
    assert report["asterisk-it-carlo"]["aligned"] == len(utts) > 30
    kept = [u for u in utts if u.meta["kept"]]
    assert len(kept) >= len(utts) // 2  # digits are read exactly as written
    for u in utts:
        assert u.source == "asterisk" and u.language == "it"
        assert u.phones[0].start == 0 and u.phones[-1].end == pytest.approx(u.duration)
        assert all(a.end == b.start for a, b in zip(u.phones, u.phones[1:]))

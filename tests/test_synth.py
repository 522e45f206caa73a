"""Synthesis with exact phone timing: one voice per engine and kind, plus the text sources."""
import shutil

import numpy as np
import pytest

from facestream import vocab
from facestream.training.corpus import synth, texts
from facestream.training.phonemes import BILABIALS, PHONES, SILENCE, VOWELS

EN = "Bob put the map in the pub, and Pam kept a big empty box by the mop."
DE = "Peter baut ein Boot am Meer, und Paul bringt ihm Brot mit Butter."

CASES = [  # (voice, text, what it is)
    ("mb-us1", EN, "mbrola English"),
    ("mb-de4", DE, "mbrola foreign voice in its language"),
    ("mb-de4-en", EN, "mbrola English through a German voice"),
    ("flite-slt", EN, "flite"),
    ("flite-rms", EN, "flite"),
    ("flite-awb", EN, "flite"),
    ("festival-slt-hts", EN, "festival HTS"),
]


def _voice(name):
    engine = {"mb": "mbrola", "flite": "flite", "festival": "festival"}[name.split("-")[0]]
    binary = {"mbrola": "mbrola", "flite": "flite", "festival": "festival"}[engine]
    if not shutil.which(binary) or (engine == "mbrola" and not shutil.which("espeak-ng")):
        pytest.skip(f"{binary} is not installed (scripts/install_data_deps.sh)")
    try:
        return synth.get_voice(name)
    except ValueError:
        pytest.skip(f"voice {name} is not installed (scripts/install_data_deps.sh)")


@pytest.fixture(scope="module")
def utterances():
    cache = {}

    def get(name, text):
        if (name, text) not in cache:
            cache[(name, text)] = synth.synthesize(_voice(name), text)
        return cache[(name, text)]
    return get


def _rms(x, frame=vocab.HOP_SAMPLES):
    n = len(x) // frame
    return np.sqrt(np.mean(x[: n * frame].reshape(n, frame) ** 2, axis=1) + 1e-12)


@pytest.mark.parametrize("name,text,kind", CASES, ids=[c[0] for c in CASES])
def test_exact_timing_and_format(utterances, name, text, kind):
    utt = utterances(name, text)
    assert utt.audio.dtype == np.float32 and utt.audio.ndim == 1
    assert np.abs(utt.audio).max() <= 1.0
    # The engine's own last phone end matches the 16 kHz audio within 10 ms.
    assert abs(utt.meta["engine_end_s"] - utt.duration) < 0.010, kind
    segs = utt.phones
    assert segs[0].start == 0.0 and segs[-1].end == pytest.approx(utt.duration, abs=1e-9)
    for a, b in zip(segs, segs[1:]):
        assert a.end == b.start and a.end > a.start
    assert sum(s.end - s.start for s in segs) == pytest.approx(utt.duration, abs=0.010)
    assert {s.phone for s in segs} <= set(PHONES)
    assert utt.voice == name and utt.source == synth.get_voice(name).engine
    # Real speech: most of the speech frames carry energy (not a silent or broken render).
    rms = _rms(utt.audio)
    speech = np.concatenate([rms[int(s.start * 100): int(s.end * 100)] for s in segs
                             if s.phone != SILENCE])
    assert np.median(speech) > 0.005 and np.percentile(speech, 90) > 0.03
    assert sum(s.phone in VOWELS for s in segs) >= 10


@pytest.mark.parametrize("name,text,kind", CASES, ids=[c[0] for c in CASES])
def test_bilabial_closure_is_a_dip_at_its_time(utterances, name, text, kind):
    """Lips closed for /p b/: the segment's quietest 10 ms frame is far below the loudest
    frame of the vowels next to it, for most of the stops."""
    utt = utterances(name, text)
    rms = _rms(utt.audio)
    segs = utt.phones
    checked = dips = 0
    for i in range(1, len(segs) - 1):
        s = segs[i]
        if s.phone not in BILABIALS - {"m"} or s.end - s.start < 0.03:
            continue
        vowels = [n for n in (segs[i - 1], segs[i + 1]) if n.phone in VOWELS]
        if not vowels:
            continue
        closure = rms[int(s.start * 100): max(int(s.end * 100), int(s.start * 100) + 1)]
        vowel = max(rms[int(v.start * 100): int(v.end * 100) + 1].max() for v in vowels)
        checked += 1
        dips += closure.min() < 0.3 * vowel
    assert checked >= 3, f"{kind}: too few /p b/ next to a vowel"
    assert dips >= 0.75 * checked, f"{kind}: {dips}/{checked} bilabial stops show a closure"


@pytest.mark.parametrize("name", ["mb-us1", "flite-slt", "festival-slt-hts"])
def test_same_seed_same_output_and_rate(utterances, name):
    text = "Maybe the baby bought a puppy."
    a = synth.synthesize(_voice(name), text, seed=3)
    b = synth.synthesize(_voice(name), text, seed=3)
    assert np.array_equal(a.audio, b.audio) and a.phones == b.phones and a.uid == b.uid
    fast = synth.synthesize(_voice(name), text, rate=1.4, seed=3)
    assert fast.duration < 0.9 * a.duration
    assert abs(fast.meta["engine_end_s"] - fast.duration) < 0.010


def test_mbrola_seed_pitch_quality_vary_the_voice():
    v = _voice("mb-us1")
    text = "The pump is broken, maybe the baby can fix it."
    base = synth.synthesize(v, text)
    jitter = synth.synthesize(v, text, seed=7)
    assert not np.array_equal([s.end for s in base.phones], [s.end for s in jitter.phones])
    assert [s.phone for s in base.phones] == [s.phone for s in jitter.phones]
    for kw in ({"pitch": 1.3}, {"quality": 1.15}):
        other = synth.synthesize(v, text, **kw)
        assert other.duration == pytest.approx(base.duration, abs=0.02)
        assert abs(other.meta["engine_end_s"] - other.duration) < 0.010
        n = min(len(base.audio), len(other.audio))
        assert not np.allclose(base.audio[:n], other.audio[:n], atol=1e-3)


def test_voice_listing_and_errors():
    voices = synth.list_voices()
    if not voices:
        pytest.skip("no speech engine installed (scripts/install_data_deps.sh)")
    assert len({v.name for v in voices}) == len(voices)
    by_name = {v.name: v for v in voices}
    if "mb-de4-en" in by_name:
        v = by_name["mb-de4-en"]
        assert (v.language, v.recorded_language, v.backend) == ("en", "de", "de4")
        assert not v.native_speaker
    with pytest.raises(ValueError, match="not installed"):
        synth.synthesize("mb-zz9", "hello")
    with pytest.raises(ValueError, match="rate"):
        synth.synthesize(voices[0], "hello there", rate=0.0)
    with pytest.raises(ValueError, match="empty"):
        synth.synthesize(voices[0], "   ")


def test_sentences_are_clean_and_seeded():
    try:
        a = texts.sentences("en", 50, seed=1)
    except ValueError:
        pytest.skip("no English text source installed (fortunes-min)")
    assert a == texts.sentences("en", 50, seed=1) and a != texts.sentences("en", 50, seed=2)
    for s in a:
        assert texts.MIN_WORDS <= len(s.split()) <= texts.MAX_WORDS
        assert not any(c.isdigit() for c in s) and "http" not in s
    assert texts.clean_sentence("Call 555 now at http://x.y", "en") is None
    assert texts.clean_sentence("This one is fine", "en") == "This one is fine."
    assert texts.text_language("zz") == "en"  # no source: English through that voice


def test_phone_coverage_counts_every_symbol(utterances):
    utt = utterances("mb-us1", EN)
    cov = texts.phone_coverage([utt])
    assert set(cov) == set(PHONES)
    assert sum(cov.values()) == len(utt.phones) and cov["p"] >= 3
    secs = texts.phone_coverage([utt], seconds=True)
    assert sum(secs.values()) == pytest.approx(utt.duration)


@pytest.mark.parametrize("name", ["mb-fr1", "festival-slt-hts"])
def test_synthesize_many_matches_synthesize(name):
    v = _voice(name)
    lines = ["Le bébé boit.", "Papa mange une pomme."] if name == "mb-fr1" else \
        ["The baby drinks.", "Papa eats an apple."]
    many = synth.synthesize_many(v, lines, rate=1.1)
    for text, utt in zip(lines, many):
        one = synth.synthesize(v, text, rate=1.1)
        assert np.array_equal(one.audio, utt.audio) and one.phones == utt.phones
        assert utt.text == text and utt.language == v.language

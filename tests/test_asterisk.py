"""Asterisk prompt discovery and decoding (real human speech for the corpus)."""
from __future__ import annotations

import numpy as np
import pytest

from facestream import vocab
from facestream.training.corpus import asterisk


def test_parse_transcripts_drops_comments_asides_and_sound_only_entries():
    lines = [
        "\ufeff; Core Asterisk Sounds in English",
        "",
        "agent-pass: Please enter your password followed by the pound key.",
        "beep: [this is a simple beep tone]",
        "letters/at: at [@]",
        "silence/1: (1 second of silence)",
        "spy-iax2: IAX (note: does not say \"2\")",
        "conf-adminmenu: conf-adminmenu: Press 1.",
        "priv: Pour envoyer au menu poli (ne m'appelez plus, jamais), 4.",
        "dir-welcome:",
    ]
    t = asterisk.parse_transcripts(lines)
    assert t == {
        "agent-pass": "Please enter your password followed by the pound key.",
        "letters/at": "at",
        "spy-iax2": "IAX",
        "conf-adminmenu": "Press 1.",
        "priv": "Pour envoyer au menu poli (ne m'appelez plus, jamais), 4.",
    }


def test_unknown_language_or_voice_is_a_clear_error():
    with pytest.raises(ValueError, match="expected one of"):
        asterisk.list_prompts("xx")
    with pytest.raises(ValueError, match="unknown Asterisk voice"):
        asterisk.list_prompts(voice="asterisk-en-nobody")


def test_every_voice_names_its_licence():
    for v in asterisk.VOICES:
        assert v.speaker, v
        assert v.attribution and v.package and v.text_package
        assert v.licence.split()[0] in asterisk.__doc__


def _english_or_skip():
    prompts = asterisk.list_prompts("en")
    if not prompts:
        pytest.skip("asterisk-core-sounds-en(-g722) not installed (make data-deps)")
    return prompts


def test_english_prompts_are_found_with_their_texts():
    prompts = _english_or_skip()
    assert len(prompts) > 500
    by_id = {p.id: p for p in prompts}
    assert by_id["digits/1"].text == "one"
    assert "password" in by_id["agent-pass"].text
    for p in prompts:
        assert p.voice == "asterisk-en-allison" and p.language == "en"
        assert p.text.strip() and p.path.exists()
        assert "[" not in p.text and "<" not in p.text
    assert "silence/1" not in by_id  # sound-only entries are no speech


def test_load_prompt_gives_16k_float32_mono_speech():
    prompts = {p.id: p for p in _english_or_skip()}
    audio, text = asterisk.load_prompt(prompts["agent-pass"])
    assert audio.dtype == np.float32 and audio.ndim == 1
    assert text.startswith("Please enter your password")
    assert 2.0 < audio.size / vocab.SAMPLE_RATE < 5.0  # "Please enter your password ..." ~3.3 s
    assert np.abs(audio).max() <= 1.0
    assert np.sqrt(np.mean(audio ** 2)) > 0.01  # speech, not silence


def test_menardi_wav_is_resampled_to_16k():
    prompts = asterisk.list_prompts(voice="asterisk-it-menardi")
    if not prompts:
        pytest.skip("asterisk-prompt-it-menardi-wav or asterisk-core-sounds-it not installed")
    import soundfile as sf
    p = prompts[0]
    info = sf.info(str(p.path))
    audio, _ = asterisk.load_prompt(p)
    assert abs(audio.size / vocab.SAMPLE_RATE - info.duration) < 0.01


def test_other_languages_have_transcripts_when_installed():
    for v in asterisk.installed_voices():
        prompts = asterisk.list_prompts(voice=v.name)
        # each core voice ships ~500-600 prompts; Armelle and es-co the older 1.2 set
        assert len(prompts) > (250 if v.unpacked else 400), v.name

"""KLettres and KTuberling recordings: transcripts parsed from the packages, aligned under the
aligners' confidence test; the Asterisk voices unpacked beside the core sounds."""
import shutil

import pytest

from facestream.training.corpus import asterisk, debian_voices as dv

SOUNDS_XML = """<!-- comment with <sound name="X" file="x.ogg" /> outside the sections -->
<klettres><language code="fr"><menuitem><label>&amp;French</label></menuitem>
  <alphabet>
    <sound name="A" file="fr/alpha/a-0.ogg" />
    <sound name="B" file="fr/alpha/a-1.ogg" />
  </alphabet>
  <syllables>
    <sound name="LA" file="fr/syllab/ad-0.ogg" />
  </syllables>
</language></klettres>"""


def test_klettres_sounds_xml_is_parsed_by_section():
    assert dv.parse_klettres_sounds(SOUNDS_XML) == [
        ("alpha", "A", "fr/alpha/a-0.ogg"), ("alpha", "B", "fr/alpha/a-1.ogg"),
        ("syllab", "LA", "fr/syllab/ad-0.ogg")]


def test_ktuberling_file_stems_become_the_words_spoken():
    theme = '<language code="fr">\n <sound name="ball"   file="fr/patate_ballon.wav" />\n'
    assert dv.parse_soundtheme(theme) == [("ball", "fr/patate_ballon.wav")]
    assert dv.ktuberling_text("patate_ballon", "fr") == "ballon"
    assert dv.ktuberling_text("lune_etoile-filante", "fr") == "étoile filante"
    assert dv.ktuberling_text("patate_boucle-d-oreille", "fr") == "boucle d'oreille"
    assert dv.ktuberling_text("robin_j-ai-une-idee", "fr") == "j'ai une idée"
    assert dv.ktuberling_text("robin_heu", "fr") is None  # an interjection
    assert dv.ktuberling_text("egypt_palmtree", "en") == "palm tree"
    assert dv.ktuberling_text("gafasdesol", "es") == "gafas de sol"
    assert dv.ktuberling_text("naocare_za_sunce", "sr") is None  # not a theme prefix


def test_syllables_without_a_vowel_and_english_letters():
    assert dv.klettres_text("syllab", "BA", "es") == "ba"
    assert dv.klettres_text("syllab", "CH", "en") is None  # a phonics sound, not a reading
    assert dv.klettres_text("syllab", "ТЬСЯ", "ru") == "ться"
    assert dv.klettres_text("alpha", "B", "en") == "B"  # pocketsphinx: the letter's name
    assert dv.voice_name("klettres", "en_GB") == "klettres-en-gb"
    assert dv.speaker_of("pt_BR") == "kde-pt-br"


def test_letters_that_are_words_are_left_out():
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng not installed (make data-deps)")
    assert dv.klettres_text("alpha", "B", "fr") == "B"  # espeak-ng says its name, "bé"
    assert dv.klettres_text("alpha", "Y", "es") is None  # read as the word "y", not "ye"


def _prompts_or_skip(voice):
    try:
        prompts = dv.list_prompts(voice)
    except FileNotFoundError:
        prompts = []
    if not prompts:
        pytest.skip(f"{voice}: {dv.PACKAGE[voice.split('-')[0]]} not installed (make data-deps)")
    return prompts


def test_installed_recordings_have_audio_text_and_a_speaker():
    prompts = _prompts_or_skip("klettres-fr")
    assert {p.id for p in prompts} >= {"alpha/B", "syllab/LA"}
    assert all(p.path.exists() and p.text and p.speaker == "kde-fr" for p in prompts)
    audio, text = asterisk.load_prompt(prompts[0])
    assert audio.ndim == 1 and audio.size > 1000 and text == prompts[0].text


def test_new_speakers_pass_the_confidence_test():
    """Real clips of new speakers: English through pocketsphinx, Italian syllables through the
    CTC aligner's rank test (each kept clip's transcript beats the others' on its audio)."""
    from facestream.training.corpus.build import _align
    pytest.importorskip("torch")
    pytest.importorskip("pocketsphinx")
    en = [p for p in _prompts_or_skip("klettres-en") if p.id in
          {"alpha/B", "alpha/M", "syllab/DOG", "syllab/SKY"}]
    utts, rejected = _align(en)
    assert rejected == 0 and [u.uid.split("/", 3)[3] for u in utts] == \
        ["alpha/B", "alpha/M", "syllab/DOG", "syllab/SKY"]
    assert all(u.source == "klettres" and u.meta["speaker"] == "kde-en" for u in utts)
    it = [p for p in _prompts_or_skip("klettres-it") if p.id.startswith("syllab/")][:30]
    utts, rejected = _align(it)
    # one-phone differences (ba/pa/bo) make the rank test strict on syllables: it keeps about
    # a quarter of them, where a wrong transcript would pass one time in 21
    assert len(utts) + rejected == len(it) and len(utts) >= len(it) // 10
    assert all(u.meta["margin"] > 0 and u.meta["kept"] for u in utts)
    assert all(abs(u.phones[-1].end - u.duration) < 0.011 for u in utts)


def test_armelle_and_es_co_are_unpacked_beside_the_core_sounds():
    v = asterisk.VOICE_BY_NAME["asterisk-fr-armelle"]
    if not v.root.is_dir():
        pytest.skip(f"{v.package} not unpacked under {asterisk.DEBIAN_DATA_DIR} (make data-deps)")
    june = asterisk.list_prompts(voice="asterisk-fr-june")
    armelle = asterisk.list_prompts(voice="asterisk-fr-armelle")
    assert june and armelle and not {p.path for p in june} & {p.path for p in armelle}
    assert all(p.path.suffix == ".gsm" and p.speaker == "armelle-desjardins" for p in armelle)
    audio, _ = asterisk.load_prompt(armelle[0])
    assert audio.size > 1000

"""Flight of the Amazon Queen's English dialogue as real speech: the container, lines to voice
files, speakers, the confidence test, opt-in."""
import io
import struct

import numpy as np
import pytest

from facestream import vocab
from facestream.training.corpus import asterisk, fotaq, store
from facestream.training.corpus.build import BuildConfig


# ---- a small game built in the container's layout ---------------------------------------

class Blob:
    """Bytes written in order; strings length-prefixed and padded as the game reads them."""

    def __init__(self):
        self.data = bytearray()

    def i16(self, *values):
        self.data += struct.pack(f">{len(values)}h", *values)

    def string(self, text, align=2):
        self.data += bytes([len(text)]) + text.encode("latin-1")
        if text:
            self.data += b"\0" * (-len(self.data) % align)


def dialogue_file():
    """A .DOG with talk key 7: Joe's opening line, one option and the answer, greetings."""
    joe = Blob()
    for head, text in ((0, "Hello there."), (0x1F, "What's that?*FLOkay.")):
        joe.i16(0, head)
        joe.string(text, align=4)
    person_at = 128 + len(joe.data)
    person = Blob()
    person.i16(0, 0x1F)
    person.string("It's a thing.", align=4)
    greeting_at = person_at + len(person.data)
    greeting = Blob()
    greeting.string("Back again?")
    greeting.string("Yes.")
    head = Blob()
    head.i16(1, 0, 7, 2, 1, *[0] * 6, person_at, 0, greeting_at, 0, 0)  # 32 bytes
    return bytes(head.data) + bytes(96) + bytes(joe.data + person.data + greeting.data)


def cutaway_file():
    """A .CUT of four steps: Joe (two segments), object 1 (a person, "Trader Bob"), object 2
    (animated, one frame, silent) and a caption."""
    steps = Blob()
    for obj, anims in ((0, 0), (1, 0), (2, 1), (-3, 0)):
        steps.i16(obj, 0, 0, 0, anims, 1, *[0] * 11)  # 17 values, execute = 1
        steps.i16(0)  # no people turned on
        if obj == 2:
            steps.i16(1, 5, 3, 0, 0, 0, 0, 100, 0, 0, -2)  # one frame, then the end mark
    sentences = Blob()
    for text in ("", "Hi there.*00Nice day.", "Certainly.", "", "Meanwhile..."):
        sentences.string(text)
    head = Blob()
    head.i16(0, 4, 0, 0, 12 + len(steps.data), 0)
    return bytes(head.data + steps.data + sentences.data)


def text_tables():
    """QUEEN.JAS (1 room, 2 names, 2 objects, 1 description) and QUEEN2.JAS."""
    jas = Blob()
    jas.i16(1, 2, 2, 1)
    jas.i16(1, *[0] * 6, -3)  # object 1: name 1, a person
    jas.i16(2, *[0] * 6, 0)  # object 2: name 2, a thing
    lines = ["It looks nice", "Trader Bob", "box", "Store", *["verb"] * 12,
             "I can't do that.", *[""] * 39]
    return bytes(jas.data), "\r\n".join(lines).encode("latin-1")


def container(members):
    """{name: bytes} -> queen.1c bytes (QTBL, MP3 speech)."""
    names = list(members)
    at = 15 + 21 * len(names)
    out = bytearray(b"QTBL" + b"CEM10\0" + b"\0\0" + bytes([1]) + struct.pack(">H", len(names)))
    for name in names:
        out += name.encode("ascii").ljust(12, b"\0") + bytes([0])
        out += struct.pack(">II", at, len(members[name]))
        at += len(members[name])
    for name in names:
        out += members[name]
    return bytes(out)


def mp3(seconds=0.5, rate=11025):
    sf = pytest.importorskip("soundfile", reason="soundfile reads the MP3 voice files")
    buf = io.BytesIO()
    t = np.arange(int(seconds * rate)) / rate
    sf.write(buf, (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), rate, format="MP3")
    return buf.getvalue()


VOICED = ["JOE00011", "JOE00411", "07SSSSJ1", "07001FJ1", "07001FP1", "07XXXXP1",
          "07XXXXJ1", "C9Z__011", "C9Z__012", "C9Z__021", "C9Z__041"]


@pytest.fixture
def game(tmp_path):
    jas, jas2 = text_tables()
    header = bytes(20)
    members = {"QUEEN.JAS": header + jas, "QUEEN2.JAS": jas2,
               "BOB3.DOG": header + dialogue_file(), "C9Z.CUT": header + cutaway_file()}
    sound = mp3()
    members.update({f"{v}.SB": sound for v in VOICED})  # "07001FJ2" has none: skipped
    path = tmp_path / "queen.1c"
    path.write_bytes(container(members))
    return path


# ---- format -------------------------------------------------------------------------------

def test_lines_split_at_stage_commands_as_the_game_numbers_them():
    assert fotaq.split_segments("Hello Joe.*00Bet you didn't expect to see me!") == \
        [(1, "Hello Joe."), (2, "Bet you didn't expect to see me!")]
    assert fotaq.split_segments("*FLWhat is it?") == [(2, "What is it?")]
    assert fotaq.split_segments("Take this.*GDThanks*00") == [(2, "Thanks")]  # grab: silent
    assert fotaq.split_segments("*XY00(237,112)Over  here!") == [(2, "Over here!")]
    assert fotaq.split_segments("*FR") == []


def test_transcripts_drop_sounds_and_unreadable_text():
    t = fotaq.transcript
    assert t("Whoah! Now that's what I call UGLY!") == "Whoah! Now that's what I call ugly!"
    assert t("I DON'T take orders!") == "I don't take orders!"
    assert t("Super Soldier Treatment^_, and") == "Super Soldier Treatment, and"
    assert t("The C.I.A.?") == "The C I A?" and t("an ID card") == "an ID card"
    for dropped in ("<gulp>", "(sigh)", "@@ I think I'm in love @@", "He discovered it in 1844.",
                    "&#($!!, he got away!", "Do you want to RESTART (Y/N)?", "!!!"):
        assert t(dropped) is None, dropped


def test_container_lines_map_to_voice_files_with_their_speakers(game):
    directory = fotaq.read_directory(game.read_bytes())
    assert len(directory) == 4 + len(VOICED) and directory["QUEEN2.JAS"][1] > 0
    lines = {line.voice: line for line in fotaq.game_lines(game)}
    assert set(lines) == set(VOICED)  # every voiced line, and only those with a voice file
    assert lines["JOE00011"] == ("JOE00011", "I can't do that.", "JOE")  # stock response 1
    assert lines["JOE00411"] == ("JOE00411", "It looks nice", "JOE")  # description 1: 40 + 1
    assert lines["07SSSSJ1"].text == "Hello there." and lines["07001FJ1"].text == "What's that?"
    assert lines["07001FP1"] == ("07001FP1", "It's a thing.", "BOB")
    assert (lines["07XXXXP1"].label, lines["07XXXXJ1"].label) == ("BOB", "JOE")
    assert [lines[v].text for v in ("C9Z__011", "C9Z__012", "C9Z__021")] == \
        ["Hi there.", "Nice day.", "Certainly."]
    assert lines["C9Z__021"].label == "TRADER BOB" and lines["C9Z__041"].label == ""
    prompts = {p.id: p for p in fotaq.list_prompts(path=game)}
    assert "C9Z__041" not in prompts  # a caption: nobody on screen says it
    assert prompts["07001FP1"].speaker == prompts["C9Z__021"].speaker == "fotaq-trader-bob"
    p = prompts["07SSSSJ1"]
    assert (p.voice, p.language, p.source, p.speaker) == ("fotaq-en", "en", "fotaq", "fotaq-joe")
    audio, text = asterisk.load_prompt(p)
    assert text == "Hello there." and audio.dtype == np.float32 and np.abs(audio).max() <= 1
    assert abs(audio.size / vocab.SAMPLE_RATE - 0.5) < 0.06  # 11,025 Hz MP3 -> 16 kHz
    with pytest.raises(ValueError, match="unknown FOTAQ voice"):
        fotaq.list_prompts(voice="fotaq-de", path=game)


def test_a_file_that_is_not_the_container_is_named():
    with pytest.raises(ValueError, match="not a FOTAQ container"):
        fotaq.read_directory(b"RIFF" + bytes(40))


def test_speakers_are_characters_and_object_names_are_dropped():
    assert fotaq.speaker_of("JOE") == fotaq.speaker_of("Joe King") == "fotaq-joe"
    assert fotaq.speaker_of("BOB") == fotaq.speaker_of("TRADER BOB") == "fotaq-trader-bob"
    assert fotaq.speaker_of("PRIN") == fotaq.speaker_of("PRINCESS AZURA") == "fotaq-azura"
    assert fotaq.speaker_of("TAM") == fotaq.speaker_of("MARY-LOU") == "fotaq-mary-lou"
    for thing in ("NOTE", "SMOKE", "DOOR", "LILY PAD", "TELEPHONE", "DOG", "GUARD DOG", ""):
        assert fotaq.speaker_of(thing) is None, thing


# ---- held out whole ---------------------------------------------------------------------

def test_fotaq_is_built_by_default_and_held_out_whole():
    """Every FOTAQ character is 'test' in the default build, whatever the speaker lists say:
    one actor voices several characters, so only the whole source keeps actors out of
    training; a FOTAQ speaker named for val is a contradiction, not silently test."""
    from facestream.training.corpus import build, cli
    assert "fotaq" in BuildConfig().real_sources and "fotaq" in store.DEFAULT_REAL_SOURCES
    assert BuildConfig().test_real_sources == ("fotaq",)
    assert cli._sources("asterisk,klettres,ktuberling,fotaq")[-1] == "fotaq"
    cfg = BuildConfig()
    for speaker in {f"fotaq-{name}" for name in fotaq.SPEAKERS.values()}:
        assert build.real_split(speaker, "fotaq", cfg) == "test"
    # the same speaker key from a source not held out whole follows the speaker lists
    assert build.real_split("fotaq-joe", "asterisk", cfg) == "train"
    assert build.real_split("fotaq-joe", "fotaq", BuildConfig(test_real_sources=())) == "train"
    with pytest.raises(ValueError, match="val"):
        build.real_split("fotaq-joe", "fotaq", BuildConfig(val_real_speakers=("fotaq-joe",)))
    with pytest.raises(ValueError, match="test_real_sources"):
        BuildConfig(test_real_sources=("fotaqq",))


# ---- the installed game ---------------------------------------------------------------------

def _installed():
    prompts = fotaq.list_prompts()
    if not prompts:
        pytest.skip(f"{fotaq.PACKAGE} not installed or unpacked (make data-deps)")
    return prompts


def test_installed_game_lines_speakers_and_audio():
    prompts = _installed()
    with open(fotaq.game_file(), "rb") as f:
        directory = fotaq.read_directory(f.read(200_000))
    assert sum(name.endswith(".SB") for name in directory) == 6745
    assert len(fotaq.game_lines(fotaq.game_file())) == 6587
    by_id = {p.id: p for p in prompts}
    for pid, speaker, text in (
            ("C18B_473", "fotaq-frank", "If anyone can find the Skull, you can."),
            ("28009AJ2", "fotaq-joe", "I was going to give it to the secretary..."),
            ("67001EP2", "fotaq-trader-bob",
             "It must be your fate to perpetually help those who are in need."),
            ("C41D_061", "fotaq-azura", "Aren't you a little short for a fumigator?")):
        assert (by_id[pid].speaker, by_id[pid].text) == (speaker, text)
    speakers = {p.speaker for p in prompts}
    assert "fotaq-joe" in speakers and len(speakers) >= 30
    assert speakers <= {f"fotaq-{name}" for name in fotaq.SPEAKERS.values()}
    assert len(prompts) > 6000
    audio, _ = asterisk.load_prompt(by_id["C18B_473"])
    assert abs(audio.size / vocab.SAMPLE_RATE - 4.02) < 0.1
    from facestream.training.corpus.build import plan_jobs, real_voices
    assert real_voices(("fotaq",)) == ["fotaq-en"]
    assert plan_jobs(BuildConfig(engines=(), real_sources=("asterisk", "fotaq"),
                                 real_voices=("fotaq-en",))) == [("real", "fotaq-en")]


def test_lines_pass_the_confidence_test_and_shuffled_transcripts_fail():
    """pocketsphinx times each line; the CTC rank test keeps it only when its subtitle beats
    the other lines' subtitles on its audio. Wrong transcripts must fail it."""
    pytest.importorskip("torch")
    pytest.importorskip("pocketsphinx")
    from real_speech_helpers import check_rank_test
    lines = [p for p in _installed() if len(p.text.split()) >= 4][::200][:24]
    utts = check_rank_test(lines, "fotaq")
    # timed by pocketsphinx, kept by the CTC aligner's rank test
    assert all(u.meta["aligner"] == "pocketsphinx" for u in utts)

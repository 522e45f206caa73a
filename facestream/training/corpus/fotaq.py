"""Real human voices: the English talkie of Flight of the Amazon Queen (Debian package
`flight-of-the-amazon-queen`).

The game ships as one container, `queen.1c` (ScummVM's rebuilt resource file), holding its
voice recordings (6,745 `<name>.SB` files, bare MP3 at 11,025 Hz mono) and the text they
speak, plain 8-bit strings in three kinds of file:

- QUEEN2.JAS, a text table: Joe's descriptions of objects (voice `JOE<n + 40>`, n = 1, 2 ...)
  and his 40 stock responses (`JOE<n>`); QUEEN.JAS holds the object table (name, image)
  the cutscenes name their speakers from.
- <person>.DOG, a conversation with one character: Joe's options (voice `KKHHHHJ`: talk key
  in decimal, then the line's id in hex, both space-padded and spaces read as zeros), the
  character's answers (`KKHHHHP`), greetings (`KKSSSSJ`, `KKXXXXP`, `KKXXXXJ`).
- <scene>.CUT, a cutscene: a list of objects, each with a line said by Joe (object 0), by
  the person the object is (its name from QUEEN2.JAS: "Trader Bob") or by nobody on screen
  (negative objects: captions and narration). Voice `<scene padded with _ to 5><step %02d>`.

A line holds inline stage commands, `*` and two characters (`*FL` face left, `*00`..`*99`
animations, `*XY` and 11 characters more to walk somewhere, `*GD`/`*GM` grab, spoken by
nobody). The game splits the line at each command and plays one voice file per segment,
the prefix above plus the segment's 1-based number in hex: "Hello Joe.*00Bet you didn't
expect to see me!" is `C41B_081` and `C41B_082`. Lines whose voice file is missing are
skipped (the game plays nothing for them either).

What is left out:
- Segments that are not words an aligner can read (`transcript`): sound effects and
  asides in brackets ("<gulp>", "(sigh)"), sung lines (between "@@"), digits ("1844",
  "24 Hour", "2B or not 2B": read in ways the English aligner's number rules do not
  predict), comic-book swearing ("&#($!!"), menu text ("RESTART (Y/N)?").
- Speakers we cannot name with confidence (SPEAKERS): cutscene lines whose speaker is a
  caption or narration, or a person slot the game names after an object ("note", "smoke",
  "door": the person talking is someone the name does not say), and the dogs' barking.
- Words outside the English aligner's dictionary ("Azura", "Ironstein", "SQWAWK"), and
  lines whose subtitle is not what the actor says, which the confidence test drops: every
  line is timed by pocketsphinx and must also pass ctc_align's transcript rank test against
  the other lines (build.RANK_TESTED_ENGLISH).

Speakers: the game names characters, not its 13 voice actors, and one actor voices several
characters, so the speaker count is an upper bound, and a speaker-level split could put one
actor on both sides: the default build holds FOTAQ out whole (BuildConfig.test_real_sources),
never trained on, as unseen studio English in 'test-real-speakers'.

LICENCE (from /usr/share/doc/flight-of-the-amazon-queen/copyright; attribute in the README):
freeware, (C) John Passfield and Steven Stamatiadis: may be given away and redistributed,
not sold as such; modified versions must say so. facestream never redistributes it: the
package is unpacked at set-up time (scripts/install_data_deps.sh) and read at build time.
"""
from __future__ import annotations

import io
import re
import struct
from functools import lru_cache
from pathlib import Path
from typing import NamedTuple

import numpy as np

from .asterisk import DEBIAN_DATA_DIR, Prompt

PACKAGE = "flight-of-the-amazon-queen"
_GAME_PATH = "usr/share/scummvm/flight-of-the-amazon-queen/queen.1c"
# Where apt installs it, and where install_data_deps.sh unpacks it (installing would pull in
# the ScummVM engine).
GAME_FILES = (Path("/") / _GAME_PATH, DEBIAN_DATA_DIR / PACKAGE / _GAME_PATH)
LICENCE = "freeware (John Passfield and Steven Stamatiadis; redistribution allowed, not for sale)"
VOICE = "fotaq-en"
LANGUAGE = "en"

_HEADER = struct.Struct(">4s6s2xBH")  # "QTBL", version, compression, entry count
_ENTRY = struct.Struct(">12sBII")  # name (NUL-padded), bundle, offset, size
_FILE_HEADER = 20  # bytes before the data of a .DOG, .CUT and QUEEN.JAS
_MP3 = 1  # the container's compression byte for MP3 speech
JOE_RESPONSES = 40  # Joe's stock responses in QUEEN2.JAS, numbered before his descriptions
_CUT_OBJECT = struct.Struct(">17h")  # a cutscene object (number, ..., from-object at 12, ...)
_CUT_FRAME = 9 * 2  # bytes of one animation frame after its header
# Cutscene object numbers: 0 Joe, -5 Joe after a room fade, -2/-3/-4 caption or narration.
_JOE, _FADE_JOE, _CAPTIONS = 0, -5, (-2, -3, -4)


class Line(NamedTuple):
    voice: str  # its voice file's name without ".SB" ("C18B_473")
    text: str  # the segment as the game subtitles it
    label: str  # who says it as the game names them ("JOE", "BOB", "PRINCESS AZURA"); "" none


# ---- the container ---------------------------------------------------------------------------

def read_directory(head: bytes) -> dict[str, tuple[int, int]]:
    """The start of queen.1c -> {entry name ("C18B_473.SB"): (offset, size) in bytes}."""
    if len(head) < _HEADER.size:
        raise ValueError("not a FOTAQ container: shorter than its header")
    magic, _, compression, count = _HEADER.unpack_from(head)
    if magic != b"QTBL":
        raise ValueError(f"not a FOTAQ container (magic {magic!r}, expected b'QTBL'): "
                         f"reinstall {PACKAGE}")
    if compression != _MP3:
        raise ValueError(f"FOTAQ container with speech compression {compression}, expected "
                         f"{_MP3} (MP3): only Debian's {PACKAGE} is supported")
    if len(head) < _HEADER.size + count * _ENTRY.size:
        raise ValueError(f"FOTAQ container truncated: its directory lists {count} entries")
    out = {}
    for i in range(count):
        name, _, offset, size = _ENTRY.unpack_from(head, _HEADER.size + i * _ENTRY.size)
        out[name.split(b"\0")[0].decode("ascii")] = (offset, size)
    return out


@lru_cache(maxsize=4)
def _directory(path: str) -> dict[str, tuple[int, int]]:
    with open(path, "rb") as f:
        head = f.read(_HEADER.size)
        count = _HEADER.unpack(head)[3] if len(head) == _HEADER.size else 0
        return read_directory(head + f.read(count * _ENTRY.size))


def read_member(path: str | Path, name: str, skip: int = 0) -> bytes:
    """The bytes of entry `name` of the container at `path`, less its first `skip`."""
    offset, size = _directory(str(path)).get(name, (None, 0))
    if offset is None:
        raise FileNotFoundError(f"no entry {name} in {path}")
    with open(path, "rb") as f:
        f.seek(offset + skip)
        return f.read(size - skip)


def decode_member(path: str | Path, name: str) -> np.ndarray:
    """A voice file of the container -> S float32 mono at 16 kHz, peak <= 1."""
    import soundfile as sf

    from .byo import audio_to_16k
    audio, rate = sf.read(io.BytesIO(read_member(path, name)), dtype="float32")
    return np.clip(audio_to_16k(audio, rate, f"{path}:{name}"), -1.0, 1.0)


# ---- lines and segments ----------------------------------------------------------------------

_NO_SEGMENT = ("GD", "GM")  # grab commands: the text before them is not spoken
_WALK = "XY"  # "*XY00(237,112)": 11 characters after the command's two


def split_segments(sentence: str) -> list[tuple[int, str]]:
    """A line with inline commands -> [(voice segment number from 1, text)], as the game
    splits it; empty segments and those before a grab command are left out."""
    out, start, number, i = [], 0, 1, 0
    while i < len(sentence):
        if sentence[i] != "*":
            i += 1
            continue
        command = sentence[i + 1:i + 3]
        if command not in _NO_SEGMENT:
            out.append((number, sentence[start:i]))
        i += 3 + (11 if command == _WALK else 0)
        number, start = number + 1, i
    out.append((number, sentence[start:]))
    return [(n, " ".join(t.split())) for n, t in out if t.strip()]


def _lines(prefix: str, sentence: str, label: str) -> list[Line]:
    return [Line(f"{prefix}{n:x}".upper(), text, label)
            for n, text in split_segments(sentence)]


def _string(data: bytes, offset: int, align: int = 2) -> tuple[str, int]:
    """A length-prefixed string at `offset` -> (text, offset after it, padded to `align`)."""
    n = data[offset]
    offset += 1
    if n == 0:
        return "", offset
    return data[offset:offset + n].decode("latin-1"), (offset + n + align - 1) & -align


def _be16(data: bytes, offset: int) -> int:
    return struct.unpack_from(">h", data, offset)[0]


def _ube16(data: bytes, offset: int) -> int:
    return struct.unpack_from(">H", data, offset)[0]


def dialogue_lines(name: str, data: bytes) -> list[Line]:
    """One .DOG file (without its 20-byte header) -> its voiced lines: Joe's (label "JOE")
    and the character's (the file name without digits: "BOB3.DOG" -> "BOB")."""
    person = re.sub(r"\d+$", "", name.rsplit(".", 1)[0])
    # The game pads the talk key and the line id with spaces; its voice files have zeros.
    levels, key = abs(_be16(data, 0)), f"{_be16(data, 4):02d}"
    joe_max, person_max = _be16(data, 6), _be16(data, 8)
    person_at, greeting_at = _ube16(data, 22), _ube16(data, 26)
    out = []

    def entries(offset: int, count: int, side: str, label: str) -> None:
        for i in range(count):
            head = _be16(data, offset + 2)
            text, offset = _string(data, offset + 4, align=4)
            if head > 0:
                out.extend(_lines(f"{key}{head:04x}{side}", text, label))
            elif head == 0 and i == 0 and side == "J":  # Joe's opening line
                out.extend(_lines(f"{key}SSSSJ", text, label))

    entries(32 + levels * 96, joe_max, "J", "JOE")  # after the 32-byte header and the tree
    entries(person_at, person_max, "P", person)
    again, offset = _string(data, greeting_at)  # said when Joe has talked to them before
    out.extend(_lines(f"{key}XXXXP", again, person))
    out.extend(_lines(f"{key}XXXXJ", _string(data, offset)[0], "JOE"))
    return out


def cutaway_lines(name: str, data: bytes, objects: "ObjectTable") -> list[Line]:
    """One .CUT file (without its 20-byte header) -> its voiced lines, each labelled "JOE",
    the speaking object's name upper-cased ("TRADER BOB"), or "" (caption or narration)."""
    base = name.rsplit(".", 1)[0]
    prefix = (base + "_" * 5)[:5]
    count, sentence_at = abs(_be16(data, 2)), _ube16(data, 8)
    _, sentence_at = _string(data, sentence_at)  # the entry string, not spoken
    at, out = 12, []
    for step in range(1, count + 1):
        obj, _, _, _, anims, execute, *_rest = _CUT_OBJECT.unpack_from(data, at)
        from_object = _rest[6]
        at += _CUT_OBJECT.size
        at += 2 + 2 * _be16(data, at)  # the people turned on
        sentence, sentence_at = _string(data, sentence_at)
        obj = _JOE if obj == _FADE_JOE else obj
        if _is_animation(obj, anims, execute, from_object, objects):
            while _be16(data, at) != -2:
                at += 2 + _CUT_FRAME
            at += 2
        if not sentence or sentence == "*" or sentence.startswith("#"):  # "#": credits
            continue
        label = "JOE" if obj == _JOE else objects.name(obj).upper() if obj > 0 else ""
        out.extend(_lines(f"{prefix}{step:02d}", sentence, label))
    return out


def _is_animation(obj: int, anims: int, execute: int, from_object: int,
                  objects: "ObjectTable") -> bool:
    """Whether a cutscene object's record is followed by animation frames: one set to
    execute that is not copied from another object, not a caption, and not a person (Joe or
    a person object) speaking without frames."""
    if from_object > 0 or obj in _CAPTIONS or not execute:
        return False
    if obj == _JOE:
        return bool(anims)
    return bool(anims) or obj < 0 or not objects.is_person(obj)


class ObjectTable:
    """The game's objects: names (QUEEN2.JAS) and whether each is a person (QUEEN.JAS)."""

    def __init__(self, jas: bytes, jas2: list[str]):
        rooms, names, count, descriptions = struct.unpack_from(">4H", jas, 0)
        self._name_index = [0] + [_be16(jas, 8 + 16 * i) for i in range(count)]
        self._image = [0] + [_be16(jas, 8 + 16 * i + 14) for i in range(count)]
        self._names = jas2[descriptions:descriptions + names]
        self.descriptions = jas2[:descriptions]
        first = descriptions + names + rooms + 12  # after the room and 12 verb names
        self.responses = jas2[first:first + JOE_RESPONSES]

    def name(self, obj: int) -> str:
        """Object `obj` (from 1) -> its name, "" when it has none."""
        if not 0 < obj < len(self._name_index):
            return ""
        i = abs(self._name_index[obj])
        return self._names[i - 1].strip() if 0 < i <= len(self._names) else ""

    def is_person(self, obj: int) -> bool:
        return 0 < obj < len(self._image) and self._image[obj] in (-3, -4)


def joe_lines(objects: ObjectTable) -> list[Line]:
    """Joe's stock responses and descriptions of objects (QUEEN2.JAS)."""
    out = []
    for i, text in enumerate(objects.responses, 1):
        out += _lines(f"JOE{i:04d}", text, "JOE")
    for i, text in enumerate(objects.descriptions, 1):
        out += _lines(f"JOE{i + JOE_RESPONSES:04d}", text, "JOE")
    return out


def game_lines(path: str | Path) -> list[Line]:
    """Every voiced line of the game at `path` whose voice file exists, in file order; a
    voice file that two lines name keeps the first."""
    directory = _directory(str(path))
    jas2 = read_member(path, "QUEEN2.JAS").decode("latin-1").replace("\r", "").split("\n")
    objects = ObjectTable(read_member(path, "QUEEN.JAS", _FILE_HEADER), jas2)
    lines = joe_lines(objects)
    for name in sorted(directory):
        if name.endswith(".DOG"):
            lines += dialogue_lines(name, read_member(path, name, _FILE_HEADER))
        elif name.endswith(".CUT"):
            lines += cutaway_lines(name, read_member(path, name, _FILE_HEADER), objects)
    seen, out = set(), []
    for line in lines:
        if line.voice not in seen and f"{line.voice}.SB" in directory:
            seen.add(line.voice)
            out.append(line)
    return out


# ---- transcripts and speakers ----------------------------------------------------------------

# Characters that mark a segment no aligner reads as written (see the module doc).
_UNREADABLE = re.compile(r"[0-9@<>()#$&/]")
_TRADEMARK = "^_"  # the game's (TM) after "Super Soldier Treatment^_"


def transcript(text: str) -> str | None:
    """A segment's subtitle -> the words said, or None when they cannot be given.

    Emphasis in capitals ("I call UGLY!") is lower-cased, else the English aligner would
    spell short unknown capitalised words as acronyms; dotted initials ("C.I.A.") are
    spelled as letters."""
    text = text.replace(_TRADEMARK, "")
    if _UNREADABLE.search(text) or not re.search("[A-Za-z]", text):
        return None
    text = re.sub(r"\b(?:[A-Z]\.){2,}", lambda m: " ".join(m.group().replace(".", "")), text)
    text = re.sub(r"\b[A-Z]+(?:'[A-Z]+)?\b",
                  lambda m: m.group().lower() if len(m.group()) > 2 else m.group(), text)
    return " ".join(text.split())


# The game's name for a speaker -> facestream's (fotaq-<name>): dialogue files by their name
# less digits, cutscene speakers by their object's name. Only names we are sure belong to
# one character are listed; anything else is dropped.
SPEAKERS: dict[str, str] = {
    "JOE": "joe", "JOE KING": "joe",
    # dialogue files whose name is not the character's
    "AND": "anderson", "BOB": "trader-bob", "JIM": "jimmy", "PRIN": "azura",
    "SEC": "secretary", "SHOWERAM": "showering-amazon", "TALLPYG": "tall-pygmy",
    "TAM": "mary-lou",  # "Howdy Joe, I'm Mary-Lou Cook."
    "WEDGE": "wedgewood", "WITCH": "witch-doctor",
    "ZOMBIE": "zombie-woman",  # "We are Prince Almaxaquottl's personal concubines."
    # cutscene objects that are another name of a dialogue file's character
    "TRADER BOB": "trader-bob", "PRINCESS AZURA": "azura", "AZURA OBJ": "azura",
    "BELLBOY": "laris",  # "I'm Mike Laris the bellboy."
    # named the same in both
    **{name.upper(): name.lower().replace(" ", "-") for name in (
        "Anderson", "Ape", "Bud", "Chef", "Chief", "Death", "Eddy", "Faye", "Ferryman",
        "Frank", "Gorilla", "Guard", "Guardian", "Henry", "Hugh", "Ian", "Jimmy", "John",
        "Klunk", "Laris", "Lola", "Lou", "Man", "Mary-Lou", "Naomi", "Oracle", "Rico", "Rita",
        "Secretary", "Showering Amazon", "Skip", "Sparky", "Wedgewood", "Witch Doctor",
        "Zombie Woman", "Bedraggled Prisoner", "Tired Prisoner", "Vicious Dinosaur")},
}
# Left out on purpose: "" (captions, narration); "NOTE", "SMOKE", "TORCH", "PATH", "DOOR",
# "ROCK", "LILY PAD", "TELEPHONE", "BUTTONS" (person slots named after an object: whoever
# talks there is not named); "DOG", "GUARD DOG" (barking).


def speaker_of(label: str) -> str | None:
    """The game's speaker name -> "fotaq-<character>", or None when it names no character."""
    name = SPEAKERS.get(label.upper())
    return f"fotaq-{name}" if name else None


# ---- prompts ---------------------------------------------------------------------------------

def game_file() -> Path | None:
    """The installed (or unpacked) queen.1c, or None."""
    return next((p for p in GAME_FILES if p.is_file()), None)


def list_prompts(voice: str | None = None, path: str | Path | None = None) -> list[Prompt]:
    """The kept lines of the game (`path`, default the installed queen.1c) as prompts, sorted
    by id (the voice file's name), each with its character as speaker. [] when not installed."""
    if voice is not None and voice != VOICE:
        raise ValueError(f"unknown FOTAQ voice {voice!r}: expected {VOICE}")
    path = game_file() if path is None else Path(path)
    if path is None or not path.is_file():
        return []
    out = []
    for line in game_lines(path):
        text, speaker = transcript(line.text), speaker_of(line.label)
        if text and speaker:
            out.append(Prompt(line.voice, VOICE, LANGUAGE, path, text, source="fotaq",
                              speaker=speaker, member=f"{line.voice}.SB"))
    return sorted(out, key=lambda p: p.id)


def voices() -> dict[str, str]:
    """{voice name: language} (installed or not)."""
    return {VOICE: LANGUAGE}


def installed_voices() -> list[str]:
    """[VOICE] when the game is installed, else []."""
    return [VOICE] if game_file() is not None else []


__all__ = ["GAME_FILES", "LICENCE", "PACKAGE", "SPEAKERS", "VOICE", "Line", "ObjectTable",
           "cutaway_lines", "decode_member", "dialogue_lines", "game_file", "game_lines",
           "installed_voices", "joe_lines", "list_prompts", "read_directory", "read_member",
           "speaker_of", "split_segments", "transcript", "voices"]

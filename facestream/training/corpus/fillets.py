"""Real human voices from Fish Fillets NG's dubbed dialogue (`fillets-ng-data`, `-cs`, `-nl`).

The game's characters talk in every level. Each level has a dialogue table per language,
`script/<level>/dialogs_<lang>.lua`, of entries

    dialogId("<id>", "font_<character>", "<English text>")
    dialogStr("<the line in <lang>>")

(in `dialogs_en.lua` the English text is the third argument and there is no dialogStr), and
the recording of a line is `sound/<level>/<lang>/<id>.ogg`. The Czech dub (the original, 101
min), the Dutch dub (91 min) and a few English lines (6 min, `fillets-ng-data`) are
recorded by actors; the transcript is the line as the game subtitles it.

What is left out: entries with an empty text (grunts, laughs, sound effects: `bar-x-gr0`),
recordings without an entry (the Linux level's key clicks), and lines whose transcript does
not match what is said, which the aligners' confidence test drops (the Dutch actors now and
then say a line differently from its subtitle). Every non-English line must pass
ctc_align's transcript rank test against the other lines of its language.

Speakers: the game names each line's character (its subtitle font: `font_small` is the small
fish, `font_big` the big fish, `font_parrot`, `font_statue`, ...), not the actor. A speaker is
a character of one dub (`fillets-cs-small`); one actor may lend several minor characters, so
the speaker count is an upper bound, and every Fish Fillets speaker is kept in one split
(training: BuildConfig holds none of them out) so an actor never leaks across splits.

LICENCE (from /usr/share/doc/fillets-ng-data/copyright; attribute in the README):

| source  | packages                                 | copyright                                 | licence |
|---------|------------------------------------------|-------------------------------------------|---------|
| fillets | fillets-ng-data, fillets-ng-data-cs, -nl | ALTAR interactive, Ivo and Pavel          | GPL-2   |
|         |                                          | Danihelka (Fish Fillets NG)               |         |
"""
from __future__ import annotations

import re
from pathlib import Path

from .asterisk import Prompt

FILLETS_DIR = Path("/usr/share/games/fillets-ng")
# recording directory -> ISO 639-1 language (all three have an aligner that reads them)
LANGUAGES: dict[str, str] = {"cs": "cs", "en": "en", "nl": "nl"}
LICENCE = "GPL-2"
PACKAGES = ("fillets-ng-data", "fillets-ng-data-cs", "fillets-ng-data-nl")

_STR = r'"((?:[^"\\]|\\.)*)"'
_ENTRY = re.compile(rf'dialogId\(\s*{_STR}\s*,\s*{_STR}\s*,\s*{_STR}\s*\)'
                    rf'(?:\s*dialogStr\(\s*{_STR}\s*\))?', re.S)
_ESCAPE = re.compile(r"\\(.)")


def _unescape(s: str) -> str:
    return _ESCAPE.sub(lambda m: {"n": " ", "t": " "}.get(m.group(1), m.group(1)), s)


def parse_dialogs(lua: str, english: bool = False) -> list[tuple[str, str, str]]:
    """A `dialogs_<lang>.lua` text -> [(id, character, text)], in file order.

    The text is the dialogStr translation, or, in the English table (`english`), the
    dialogId's third argument. The character is the font without its "font_" prefix ("" for
    none). Entries with no text are dropped."""
    out = []
    for ident, font, english_text, translated in _ENTRY.findall(lua):
        text = _unescape(english_text if english else translated)
        text = " ".join(text.split())
        if text and any(ch.isalpha() for ch in text):
            out.append((ident, font.removeprefix("font_"), text))
    return out


def voice_name(directory: str) -> str:
    """"cs" -> "fillets-cs": one voice (aligned together) per dub."""
    return f"fillets-{directory}"


def speaker_of(directory: str, character: str) -> str:
    """"cs", "small" -> "fillets-cs-small"; lines with no character -> "fillets-cs-other"."""
    return f"fillets-{directory}-{character or 'other'}"


def list_prompts(voice: str | None = None, root: Path | None = None) -> list[Prompt]:
    """The installed lines of one dub ("fillets-cs") or of all, sorted by voice then id,
    each with its character as speaker. [] when the packages are not installed."""
    root = FILLETS_DIR if root is None else Path(root)
    table = voices()
    if voice is not None and voice not in table:
        raise ValueError(f"unknown Fish Fillets voice {voice!r}: expected one of "
                         f"{', '.join(table)}")
    out = []
    for name, directory in sorted(table.items()):
        if voice is not None and name != voice:
            continue
        language = LANGUAGES[directory]
        got = []
        for lua in sorted((root / "script").glob(f"*/dialogs_{directory}.lua")):
            level = lua.parent.name
            entries = parse_dialogs(lua.read_text(encoding="utf-8"), english=directory == "en")
            for ident, character, text in entries:
                path = root / "sound" / level / directory / f"{ident}.ogg"
                if path.exists():
                    got.append(Prompt(f"{level}/{ident}", name, language, path, text,
                                      source="fillets", speaker=speaker_of(directory, character)))
        seen: set[str] = set()  # a line that two levels share is kept once
        for p in sorted(got, key=lambda p: p.id):
            if p.path not in seen:
                seen.add(p.path)
                out.append(p)
    return out


def voices() -> dict[str, str]:
    """{voice name: recording directory} for every dub (installed or not)."""
    return {voice_name(d): d for d in LANGUAGES}


def installed_voices() -> list[str]:
    """Names of the dubs with at least one line installed."""
    return sorted({p.voice for p in list_prompts()})


__all__ = ["FILLETS_DIR", "LANGUAGES", "LICENCE", "PACKAGES", "list_prompts",
           "installed_voices", "parse_dialogs", "speaker_of", "voice_name", "voices"]

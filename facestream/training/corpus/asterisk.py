"""Real human speech: the Asterisk PBX prompt recordings Debian ships, with their transcripts.

Each voice is a directory of prompts under /usr/share/asterisk/sounds/ (G.722 wideband, 16 kHz,
except Menardi's 8 kHz wav) and a transcript file `core-sounds-<lang>.txt.gz` in the docs of
the text package `asterisk-core-sounds-<lang>` (Debian main; install it next to the -g722
audio package, `scripts/install_data_deps.sh`). A transcript line is `<id>: <text>`, where the
id is the prompt's path without extension ("agent-pass", "digits/1"). Prompts with no
transcript, an empty one, or one that only describes a sound ("[ascending tones]",
"(1 second of silence)") are skipped; asides that are not spoken ("at [@]", "<beep>",
"(note: does not say 2)", "(in inglese)") are dropped from the text, while spoken
parentheses ("(ne m'appelez plus, jamais)") stay.

Menardi's Italian voice ships no text: it reads its own translation of the same prompt ids, so
it is given Carlo's Italian transcript (`Voice.text_package`) and its prompts must pass an
aligner's confidence threshold before use (`ctc_align`). The same holds for Armelle
Desjardins (French, read against June's transcript) and July E. Jimenez (Colombian Spanish,
read against Allison's Mexican Spanish transcript), whose 8 kHz GSM prompts use the same ids.
Their packages conflict with the transcript packages (both claim "asterisk-prompt-fr/es"), so
they are unpacked under DEBIAN_DATA_DIR rather than installed.

LICENCES (from /usr/share/doc/<package>/copyright; attribute in the README and any release
of data derived from them):

| voice                | package                         | recorded by                        | licence        |
|----------------------|---------------------------------|------------------------------------|----------------|
| asterisk-en-allison  | asterisk-core-sounds-en-g722    | Allison Smith (Digium, Inc.)       | CC-BY-SA-3.0   |
| asterisk-es-allison  | asterisk-core-sounds-es-g722    | Allison Smith (Digium, Inc.)       | CC-BY-SA-3.0   |
| asterisk-fr-june     | asterisk-core-sounds-fr-g722    | June Wallack; translated by Clod   | CC-BY-SA-3.0   |
|                      |                                 | Patry, Kristopher Lalletti, June W.|                |
| asterisk-it-carlo    | asterisk-core-sounds-it-g722    | Carlo Flora; translated by Silvia  | CC-BY-3.0      |
|                      |                                 | Petrin (segreterietelefoniche.it)  |                |
| asterisk-ru-ivrvoice | asterisk-core-sounds-ru-g722    | Maxim Topal (ivrvoice.ru)          | CC-BY-3.0      |
| asterisk-it-menardi  | asterisk-prompt-it-menardi-wav  | Marco Menardi and Paola Dal Zot    | CC-BY-SA-3.0   |
|                      |                                 | (voip.ammdomus.it)                 | (Italy)        |
| asterisk-fr-armelle  | asterisk-prompt-fr-armelle      | Armelle Desjardins; (c) 2006       | BSD-style:     |
|                      |                                 | Michel Gutierrez (aclap.com)       | keep notice    |
| asterisk-es-co       | asterisk-prompt-es-co           | July E. Jimenez; (c) 2006 Avatar   | GPL-2          |
|                      |                                 | Ltda. (avatar.com.co)              |                |

The transcripts come from asterisk-core-sounds-{en,es,fr,it,ru} under the same terms as their
voice (the English source text is Digium's). Menardi's condition for attribution: show the end
user that the sounds were made by Marco Menardi and Paola Dal Zot, with http://www.voip.ammdomus.it.
"""
from __future__ import annotations

import gzip
import re
import shutil
import subprocess
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from ... import vocab

SOUNDS_DIR = Path("/usr/share/asterisk/sounds")
# Where scripts/install_data_deps.sh unpacks the prompt packages that conflict with the
# transcript packages (FACESTREAM_DEBIAN_DATA there).
DEBIAN_DATA_DIR = Path("/opt/facestream/debian")
DOC_DIR = Path("/usr/share/doc")


@dataclass(frozen=True)
class Voice:
    name: str  # facestream's voice name, e.g. "asterisk-en-allison"
    language: str  # ISO 639-1
    directory: str  # under SOUNDS_DIR, or under the unpacked package's sounds directory
    package: str  # the Debian package holding the audio
    text_package: str  # the Debian package holding core-sounds-<lang>.txt.gz
    licence: str
    attribution: str
    ext: str = "g722"  # audio file extension in `directory`
    own_text: bool = True  # False: the transcript is another speaker's translation
    speaker: str = ""  # the person recorded: one speaker may lend several voices (Allison)
    unpacked: bool = False  # unpacked under DEBIAN_DATA_DIR/<package>, not installed

    @property
    def root(self) -> Path:
        """The directory holding this voice's prompts."""
        if self.unpacked:
            return DEBIAN_DATA_DIR / self.package / "usr/share/asterisk/sounds" / self.directory
        return SOUNDS_DIR / self.directory


VOICES: tuple[Voice, ...] = (
    Voice("asterisk-en-allison", "en", "en_US_f_Allison", "asterisk-core-sounds-en-g722",
          "asterisk-core-sounds-en", "CC-BY-SA-3.0", "Allison Smith, Digium, Inc.",
          speaker="allison-smith"),
    Voice("asterisk-es-allison", "es", "es_MX_f_Allison", "asterisk-core-sounds-es-g722",
          "asterisk-core-sounds-es", "CC-BY-SA-3.0", "Allison Smith, Digium, Inc.",
          speaker="allison-smith"),
    Voice("asterisk-fr-june", "fr", "fr_CA_f_June", "asterisk-core-sounds-fr-g722",
          "asterisk-core-sounds-fr", "CC-BY-SA-3.0",
          "June Wallack; translation Clod Patry, Kristopher Lalletti, June Wallack",
          speaker="june-wallack"),
    Voice("asterisk-it-carlo", "it", "it_IT_m_Carlo", "asterisk-core-sounds-it-g722",
          "asterisk-core-sounds-it", "CC-BY-3.0",
          "Carlo Flora; translation Silvia Petrin, segreterietelefoniche.it",
          speaker="carlo-flora"),
    Voice("asterisk-ru-ivrvoice", "ru", "ru_RU_f_IvrvoiceRU", "asterisk-core-sounds-ru-g722",
          "asterisk-core-sounds-ru", "CC-BY-3.0", "Maxim Topal, ivrvoice.ru",
          speaker="ivrvoice-ru"),
    Voice("asterisk-it-menardi", "it", "it_IT_f_Menardi", "asterisk-prompt-it-menardi-wav",
          "asterisk-core-sounds-it", "CC-BY-SA-3.0 (Italy)",
          "Marco Menardi and Paola Dal Zot, http://www.voip.ammdomus.it", ext="wav",
          own_text=False, speaker="menardi"),
    Voice("asterisk-fr-armelle", "fr", "fr", "asterisk-prompt-fr-armelle",
          "asterisk-core-sounds-fr", "BSD-style (Michel Gutierrez, 2006)",
          "Armelle Desjardins (voice); copyright Michel Gutierrez, aclap.com", ext="gsm",
          own_text=False, speaker="armelle-desjardins", unpacked=True),
    Voice("asterisk-es-co", "es", "es", "asterisk-prompt-es-co", "asterisk-core-sounds-es",
          "GPL-2", "July E. Jimenez (voice), Avatar Ltda., http://www.avatar.com.co/",
          ext="gsm", own_text=False, speaker="july-jimenez", unpacked=True),
)
VOICE_BY_NAME: dict[str, Voice] = {v.name: v for v in VOICES}


@dataclass(frozen=True)
class Prompt:
    id: str  # the prompt's path under its voice directory without extension, "digits/1"
    voice: str  # a name in VOICE_BY_NAME
    language: str  # ISO 639-1
    path: Path  # the audio file
    text: str  # transcript, bracketed asides removed
    source: str = "asterisk"  # the corpus source the recording belongs to
    speaker: str = ""  # the person recorded (Voice.speaker)
    member: str = ""  # the recording's entry when `path` is a container of many (FOTAQ's)


def parse_transcripts(lines) -> dict[str, str]:
    """`<id>: <text>` lines -> {id: text}; comments, empty and sound-only entries dropped."""
    out: dict[str, str] = {}
    for line in lines:
        line = line.lstrip("\ufeff").strip()
        if not line or line.startswith(";") or ":" not in line:
            continue
        key, text = (s.strip() for s in line.split(":", 1))
        if text.startswith(key + ":"):  # a doubled id ("conf-adminmenu: conf-adminmenu: ...")
            text = text[len(key) + 1:].strip()
        text = _drop_brackets(text)
        if key and text:
            out[key] = text
    return out


# Parenthesised asides the speaker does not read (stage directions, translator's notes).
_UNSPOKEN = re.compile(
    r"<[^>]*>|\((?:[^)]*\b(?:silence|silenzio|note|nota|beep|tone|emphase|enfatico|ahooga|"
    r"data|inglese|alternativa|muted|produrre)\b[^)]*)\)", re.IGNORECASE)


def _drop_brackets(text: str) -> str:
    text = _UNSPOKEN.sub(" ", text)
    out, depth = [], 0
    for ch in text:
        if ch == "[":
            depth += 1
        elif ch == "]":
            depth = max(0, depth - 1)
        elif depth == 0:
            out.append(ch)
    return " ".join("".join(out).split())


@lru_cache(maxsize=None)
def transcripts(language: str) -> dict[str, str]:
    """{prompt id: text} for `language` from the installed text package ({} if absent)."""
    path = DOC_DIR / f"asterisk-core-sounds-{language}" / f"core-sounds-{language}.txt.gz"
    if not path.exists():
        return {}
    with gzip.open(path, "rt", encoding="utf-8", errors="replace") as f:
        return parse_transcripts(f)


def installed_voices() -> list[Voice]:
    """The voices whose audio directory and transcript file are both installed."""
    return [v for v in VOICES if v.root.is_dir() and transcripts(v.language)]


def list_prompts(language: str | None = None, voice: str | None = None) -> list[Prompt]:
    """Every installed prompt that has a transcript, sorted by voice then id.

    language: ISO 639-1 code to keep ("en", "es", "fr", "it", "ru"); None keeps all.
    voice: a name in VOICE_BY_NAME to keep; None keeps all."""
    langs = {v.language for v in VOICES}
    if language is not None and language not in langs:
        raise ValueError(f"no Asterisk voice for language {language!r}: expected one of "
                         f"{', '.join(sorted(langs))}")
    if voice is not None and voice not in VOICE_BY_NAME:
        raise ValueError(f"unknown Asterisk voice {voice!r}: expected one of "
                         f"{', '.join(VOICE_BY_NAME)}")
    out: list[Prompt] = []
    for v in installed_voices():
        if (language and v.language != language) or (voice and v.name != voice):
            continue
        root = v.root
        texts = transcripts(v.language)
        for path in sorted(root.rglob(f"*.{v.ext}")):
            pid = path.relative_to(root).with_suffix("").as_posix()
            if pid in texts:
                out.append(Prompt(pid, v.name, v.language, path, texts[pid],
                                  speaker=v.speaker))
    return out


def ffmpeg_exe() -> str:
    """The ffmpeg imageio-ffmpeg bundles, else one on PATH."""
    try:
        import imageio_ffmpeg
        return imageio_ffmpeg.get_ffmpeg_exe()
    except ImportError:
        exe = shutil.which("ffmpeg")
        if exe is None:
            raise RuntimeError("decoding Asterisk prompts needs ffmpeg: pip install "
                               "imageio-ffmpeg (bundles one) or install ffmpeg") from None
        return exe


def decode_audio(path: str | Path) -> np.ndarray:
    """Any G.722 or GSM (raw, by extension) or ffmpeg-readable file -> S float32 mono, 16 kHz."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no audio file {path}")
    # raw codecs without a header: named, as short GSM files defeat ffmpeg's probing
    fmt = ["-f", path.suffix[1:]] if path.suffix in (".g722", ".gsm") else []
    cmd = [ffmpeg_exe(), "-nostdin", "-loglevel", "error", *fmt, "-i", str(path),
           "-f", "f32le", "-ac", "1", "-ar", str(vocab.SAMPLE_RATE), "-"]
    res = subprocess.run(cmd, capture_output=True)
    if res.returncode != 0:
        raise RuntimeError(f"ffmpeg could not decode {path}: {res.stderr.decode(errors='replace')}")
    audio = np.frombuffer(res.stdout, dtype=np.float32).copy()
    return np.clip(audio, -1.0, 1.0)


def load_prompt(prompt: Prompt) -> tuple[np.ndarray, str]:
    """(S float32 mono audio at vocab.SAMPLE_RATE with peak <= 1, transcript)."""
    if prompt.member:
        from .fotaq import decode_member
        return decode_member(prompt.path, prompt.member), prompt.text
    return decode_audio(prompt.path), prompt.text


def summary() -> dict[str, dict]:
    """{voice: {"language", "prompts", "minutes", "licence"}} over the installed voices
    (decodes every prompt: a few seconds per voice)."""
    out = {}
    for v in installed_voices():
        prompts = list_prompts(voice=v.name)
        secs = sum(len(decode_audio(p.path)) for p in prompts) / vocab.SAMPLE_RATE
        out[v.name] = {"language": v.language, "prompts": len(prompts),
                       "minutes": round(secs / 60, 2), "licence": v.licence}
    return out


__all__ = ["Prompt", "Voice", "VOICES", "VOICE_BY_NAME", "list_prompts", "load_prompt",
           "decode_audio", "transcripts", "installed_voices", "summary"]

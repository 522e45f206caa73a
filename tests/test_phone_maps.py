"""Every symbol each installed speech engine emits maps onto facestream's phoneme inventory."""
import re
import shutil
import subprocess

import pytest

from facestream.training import phone_maps
from facestream.training.phone_maps import to_inventory
from facestream.training.phonemes import PHONES

ENGLISH = ("The quick brown fox jumps over the lazy dog. She measured the azure vision "
           "with a thin rod. Why would you choose the boy's joy over our bird's garage? "
           "Judge church butter, bathe the wolf, the singer hung up. Oh, Ahab, look: "
           "a cat, a cot, a cut, a kit, a coat, a cute boot, and hers.")


def test_every_table_maps_into_the_inventory():
    tables = [phone_maps.ARPABET, phone_maps.RADIO, phone_maps.SAMPA]
    tables += [phone_maps.mbrola_table(db) for db in phone_maps.MBROLA_DATABASES]
    for table in tables:
        assert set(table.values()) <= set(PHONES)


def test_arpabet_with_stress_and_case():
    assert to_inventory("arpabet", "AH0") == "ax"
    assert to_inventory("arpabet", "AH1") == "ah"
    assert to_inventory("cmu", "Y") == "j"
    assert to_inventory("pocketsphinx", "SIL") == "sil"


def test_unknown_symbols_name_symbol_and_voice():
    with pytest.raises(ValueError, match=r"'Q9'.*mb-de4-en"):
        to_inventory("mbrola", "Q9", "mb-de4-en")
    with pytest.raises(ValueError, match="zz"):
        to_inventory("flite", "zz", "flite-rms")
    with pytest.raises(ValueError, match="voice"):
        to_inventory("mbrola", "a")  # the voice is required
    with pytest.raises(ValueError, match="engine"):
        to_inventory("nope", "a")


def test_mbrola_rules():
    assert to_inventory("mbrola", "aI", "mb-de4") == "ay"  # diphthong
    assert to_inventory("mbrola", "a~", "mb-fr1") == "a"  # nasal -> oral
    assert to_inventory("mbrola", "i:", "mb-de4") == "iy"  # long -> short
    assert to_inventory("mbrola", "?a:", "mb-de4") == "a"  # glottal onset
    assert to_inventory("mbrola", "z:", "ir1") == "z"  # geminate
    assert to_inventory("mbrola", "E", "mb-it1") == "ey"  # it1's own capitals
    assert to_inventory("mbrola", "E", "mb-it3") == "eh"
    assert to_inventory("mbrola", "_", "mb-us1") == "sil"
    assert to_inventory("mbrola", "B", "mb-es1") == "bh"  # Spanish lenited /b/: [β]
    assert to_inventory("mbrola", "b", "mb-es1") == "b"
    assert to_inventory("mbrola", "B", "mb-it1") == "b"  # it1's capitals: B is /b/
    assert phone_maps.mbrola_database("mb-de4-en") == "de4"
    assert phone_maps.mbrola_database("fr") == "fr1"


def _espeak_symbols(voice: str, text: str) -> set[str]:
    out = subprocess.run(["espeak-ng", "-v", voice, "-q", "--pho", "-b", "1"],
                         input=text.encode(), capture_output=True, timeout=60).stdout.decode()
    return {ln.split()[0] for ln in out.splitlines() if ln.strip() and not ln.startswith(";")}


def test_every_installed_mbrola_voice_maps():
    if not shutil.which("espeak-ng") or not shutil.which("mbrola"):
        pytest.skip("espeak-ng or mbrola is not installed (scripts/install_data_deps.sh)")
    from facestream.training.corpus.synth import list_voices
    from facestream.training.corpus.texts import sentences
    voices = list_voices(engine="mbrola")
    if not voices:
        pytest.skip("no MBROLA voice installed (scripts/install_data_deps.sh)")
    unknown = {}
    for v in voices:
        text = "\n".join(sentences(v.language, 40, seed=5))
        for sym in _espeak_symbols(v.name, text):
            try:
                to_inventory("mbrola", sym, v.name)
            except ValueError:
                unknown.setdefault(v.name, []).append(sym)
    assert not unknown, f"unmapped MBROLA phones per voice: {unknown}"


@pytest.mark.parametrize("voice", ["slt", "rms", "awb"])
def test_flite_phones_map(voice, tmp_path):
    if not shutil.which("flite"):
        pytest.skip("flite is not installed (scripts/install_data_deps.sh)")
    out = subprocess.run(["flite", "-voice", voice, "-psdur", "-t", ENGLISH, "-o",
                          str(tmp_path / "x.wav")], capture_output=True, text=True,
                         timeout=60).stdout
    phones = {p for p, _ in re.findall(r"(\S+):(\d+\.\d+)", out)}
    assert len(phones) > 30
    for p in phones:
        assert to_inventory("flite", p, f"flite-{voice}") in PHONES


def test_festival_phones_map():
    from facestream.training.corpus.synth import list_voices, synthesize
    voices = list_voices(engine="festival")
    if not voices:
        pytest.skip("festival with an HTS voice is not installed (scripts/install_data_deps.sh)")
    utt = synthesize(voices[0], ENGLISH)  # raises on any unmapped phone
    assert len({s.phone for s in utt.phones}) > 30

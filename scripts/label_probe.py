"""Are the aligned /p b m/ of the held-out real speakers in what they say? (issue 12)

The two GSM-coded test speakers (Armelle Desjardins, July Jiménez) read their own
translations of prompts, aligned against the transcripts of other speakers (June Wallack,
Allison Smith). A transcript close enough to pass the rank test may still hold a word the
speaker did not say, and then an aligned bilabial is not a bilabial in the audio, and no face
model can close its lips there. This probe asks the project's phone recogniser (the CTC
aligner's acoustic model, which never trained on these languages' real speech) how much
bilabial it hears inside each aligned /p b m/:

    evidence = max over the segment's frames of P(p) + P(b) + P(m)

and compares each test speaker with the speaker whose transcripts she reads, on the same
prompts (also passed through the same GSM 06.10 channel). If the test speakers'
bilabials are heard far less often than the controls', part of the measured closure gap is
in the labels, not in the model.

    .venv/bin/python scripts/label_probe.py build/corpus --limit 60
"""
from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path

import numpy as np

BILABIAL = ("p", "b", "m")
CONTROL_CONSONANTS = ("t", "d", "n", "k", "g", "s", "l", "f", "v")


def _gsm():
    spec = importlib.util.spec_from_file_location("closure_probe",
                                                  Path(__file__).with_name("closure_probe.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.gsm


def evidence(aligner, audio: np.ndarray, phones) -> tuple[list[float], list[float]]:
    """Per aligned bilabial and per aligned control consonant: the segment's peak P(p|b|m)."""
    from facestream.training.phonemes import PHONE_INDEX
    post = np.exp(aligner.log_posteriors(audio))  # T x P (100 fps)
    lab = post[:, [PHONE_INDEX[p] for p in BILABIAL]].sum(1)
    bil, ctl = [], []
    for seg in phones:
        a, b = int(seg.start * 100), max(int(seg.start * 100) + 1, int(round(seg.end * 100)))
        if a >= len(lab):
            continue
        peak = float(lab[a:b].max())
        if seg.phone in BILABIAL:
            bil.append(peak)
        elif seg.phone in CONTROL_CONSONANTS:
            ctl.append(peak)
    return bil, ctl


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("corpus")
    ap.add_argument("--limit", type=int, default=60, help="utterances per speaker")
    ap.add_argument("--voices", default="", help="also these real voices whole, as recorded "
                    "(e.g. fillets-cs,fillets-nl,asterisk-it-menardi)")
    args = ap.parse_args(argv)
    from facestream.training.corpus.ctc_align.alignment import Aligner
    from facestream.training.corpus.store import Corpus, is_real, speaker_of
    gsm = _gsm()
    aligner = Aligner()
    corpus = Corpus(args.corpus)
    real = corpus.select(where=is_real)
    by_uid = {r["uid"]: i for i, r in enumerate(real.records)}
    print("| speaker (transcripts) | channel | utterances | bilabials | median evidence at /p b m/ | "
          "heard (evidence > 0.2) | control consonants > 0.2 |")
    print("|---|---|---|---|---|---|---|")
    # a test speaker, then the speaker whose transcripts she reads, on the same prompts
    for test_voice, own_voice in (("asterisk-es-co", "asterisk-es-allison"),
                                  ("asterisk-fr-armelle", "asterisk-fr-june")):
        ids = [r["uid"].rsplit("/", 1)[1] for r in real.records if r["voice"] == test_voice]
        pairs = []
        for ident in ids:
            lang = test_voice.split("-")[1]
            own = by_uid.get(f"asterisk/{own_voice}/{lang}/{ident}")
            if own is not None:
                pairs.append((by_uid[f"asterisk/{test_voice}/{lang}/{ident}"], own))
        pairs = pairs[:args.limit]
        for which, voice, through in ((0, test_voice, False), (1, own_voice, True),
                                      (1, own_voice, False)):
            bil, ctl = [], []
            for pair in pairs:
                utt, _ = real[pair[which]]
                b, c = evidence(aligner, gsm(utt.audio) if through else utt.audio, utt.phones)
                bil += b
                ctl += c
            bil, ctl = np.asarray(bil), np.asarray(ctl)
            speaker = speaker_of(real.records[pairs[0][which]])
            chan = "as recorded (GSM)" if which == 0 else ("through GSM" if through else "as recorded")
            print(f"| {speaker} ({'other' if which == 0 else 'own'}) | {chan} | {len(pairs)} | "
                  f"{len(bil)} | {np.median(bil):.2f} | {np.mean(bil > 0.2):.2f} | "
                  f"{np.mean(ctl > 0.2):.2f} |", flush=True)
    for voice in (v for v in args.voices.split(",") if v):
        view = real.select(voice=voice)
        bil, ctl = [], []
        for i in np.linspace(0, len(view) - 1, min(args.limit, len(view))).astype(int):
            utt, _ = view[int(i)]
            b, c = evidence(aligner, utt.audio, utt.phones)
            bil += b
            ctl += c
        bil, ctl = np.asarray(bil), np.asarray(ctl)
        print(f"| {voice} (own) | as recorded | {min(args.limit, len(view))} | {len(bil)} | "
              f"{np.median(bil):.2f} | {np.mean(bil > 0.2):.2f} | {np.mean(ctl > 0.2):.2f} |",
              flush=True)
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    raise SystemExit(main())

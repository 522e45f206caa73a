"""Regenerate the bundled example clip, facestream/assets/example_speech.flac.

    make data-deps          # the speech engines (flite, espeak-ng, MBROLA)
    .venv/bin/python scripts/make_example_clip.py -o facestream/assets/example_speech.flac

The clip is synthesised by the corpus synthesiser (facestream.training.corpus.synth) with
flite's slt voice: the most natural of the offline voices the project installs, and its voice
data is under CMU's permissive licence (MBROLA's databases may not ship in a product that is
sold). 16 kHz mono 16-bit FLAC, a few seconds, well under 300 KB. The text has bilabials (p,
b, m), labiodentals (f, v), rounded and open vowels, so the lips have something to show.
"""
from __future__ import annotations

import argparse
from pathlib import Path

TEXT = ("Hello there! I am a face that listens. Watch my lips move when I speak, "
        "and then tell me how I feel.")
VOICE = "flite-slt"
MAX_BYTES = 300_000


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-o", "--output", default="facestream/assets/example_speech.flac")
    ap.add_argument("--voice", default=VOICE, help="any voice of `facestream data voices`")
    ap.add_argument("--text", default=TEXT)
    args = ap.parse_args()

    import numpy as np
    import soundfile as sf

    from facestream import vocab
    from facestream.training.corpus.synth import synthesize

    utt = synthesize(args.voice, args.text)
    audio = utt.audio / max(1e-6, float(np.abs(utt.audio).max())) * 0.9  # peak at -1 dBFS
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(out), audio, vocab.SAMPLE_RATE, subtype="PCM_16", format="FLAC")
    size = out.stat().st_size
    print(f"{out}: {len(audio) / vocab.SAMPLE_RATE:.2f} s, {size / 1000:.0f} KB, voice "
          f"{args.voice}: {args.text!r}")
    if size > MAX_BYTES:
        print(f"warning: {size} bytes is more than the {MAX_BYTES} the package should carry")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

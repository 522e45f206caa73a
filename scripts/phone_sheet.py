"""Look at the mouth where it matters: a contact sheet of the face at the centres of open vowels
and of /p b m/ of one aligned real (or synthetic) corpus utterance, as the engine streams it
(eval's engine path: 20 ms chunks, smoothing, 60 fps frames, the utterance's emotion track,
default head, no blinks, gaze or head motion), beside the rig's targets.

    .venv/bin/python scripts/phone_sheet.py build/corpus fillets-cs -o out/phone_sheet.png
    .venv/bin/python scripts/phone_sheet.py build/corpus asterisk-fr-armelle --index 5 --model M

Each caption: the phone, its time, and the lip gap (mm) of the model / of the targets.
"""
from __future__ import annotations

import argparse

import numpy as np


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("corpus")
    ap.add_argument("voice", help="a voice of the corpus (e.g. fillets-cs, asterisk-es-co)")
    ap.add_argument("--index", type=int, default=-1,
                    help="utterance of the voice (default: the one with most /p b m/ and open vowels)")
    ap.add_argument("--model", default=None, help="default: the shipped model")
    ap.add_argument("--per-class", type=int, default=4, help="frames per class")
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("-o", "--out", default="out/phone_sheet.png")
    args = ap.parse_args(argv)
    from facestream import vocab
    from facestream.engine.metrics import lip_gap
    from facestream.training.evaluate import (OPEN_VOWELS, EnginePredictor, load_voice_sequences,
                                              phone_class)
    from facestream.viewer.face import track_vertices
    from facestream.viewer.render import Renderer
    from facestream.viewer.sheet import contact_sheet

    try:
        seqs = load_voice_sequences(args.corpus, args.voice, limit=200 if args.index < 0 else 0)
    except ValueError as e:
        raise SystemExit(str(e))

    def score(s):
        b = sum(phone_class(p.phone) == "bilabial" for p in s.phones)
        o = sum(p.phone in OPEN_VOWELS for p in s.phones)
        return min(b, args.per_class) + min(o, args.per_class)

    if args.index >= len(seqs):
        raise SystemExit(f"--index {args.index}: {args.voice} has {len(seqs)} utterances")
    seq = seqs[args.index] if args.index >= 0 else max(seqs, key=score)
    pred = EnginePredictor(args.model, fps=60)
    engine, T = pred.engine, len(seq.arkit)
    zeros3, zeros6 = np.zeros((T, 3), np.float32), np.zeros((T, 6), np.float32)
    tracks = {"model": track_vertices(engine, *pred(seq), zeros3, zeros6),
              "targets": track_vertices(engine, seq.arkit, seq.jaw, zeros3, zeros6)}

    picks = [p for p in seq.phones if p.phone in OPEN_VOWELS][:args.per_class]
    picks += [p for p in seq.phones if phone_class(p.phone) == "bilabial"][:args.per_class]
    renderer = Renderer(engine.head, args.size, args.size)
    images, labels = [], []
    for p in picks:
        t = (p.start + p.end) / 2
        i = min(int(t * vocab.INTERNAL_FPS), T - 1)
        for who, verts in tracks.items():
            images.append(renderer.render(verts[i]))
            gap_mm = 1000 * float(lip_gap(engine.head, verts[i]))
            labels.append(f"/{p.phone}/ {t:.2f}s {who} {gap_mm:.1f} mm")
    contact_sheet(images, labels, columns=4, title=seq.uid, path=args.out)
    print(f"{args.out}: {seq.uid} ({len(seq.audio) / vocab.SAMPLE_RATE:.1f} s), {len(picks)} phones")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Look at the mouth where it matters: a contact sheet of the face at the centres of open vowels
and of /p b m/ of one aligned real (or synthetic) corpus utterance, as the engine streams it
(20 ms chunks, default head, neutral, no blinks or head motion), beside the rig's targets.

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
    from facestream.engine.stream import Engine
    from facestream.training.corpus.store import Corpus
    from facestream.training.evaluate import OPEN_VOWELS, phone_class
    from facestream.viewer.face import track_vertices
    from facestream.viewer.render import Renderer
    from facestream.viewer.sheet import contact_sheet

    view = Corpus(args.corpus).select(voice=args.voice)
    if not len(view):
        raise SystemExit(f"voice {args.voice!r} is not in {args.corpus}")

    def score(i):
        phones = view[i][0].phones
        b = sum(phone_class(p.phone) == "bilabial" for p in phones)
        o = sum(p.phone in OPEN_VOWELS for p in phones)
        return min(b, args.per_class) + min(o, args.per_class)

    index = args.index if args.index >= 0 else max(range(min(len(view), 200)), key=score)
    utt, tg = view[index]
    engine = Engine(args.model)
    stream = engine.create_stream(fps=60)
    stream.set_behaviour(blinks=False, head=0.0, brows=0.0)
    chunk = vocab.SAMPLE_RATE // 50
    frames = []
    for i in range(0, len(utt.audio), chunk):
        stream.accept_waveform(vocab.SAMPLE_RATE, utt.audio[i:i + chunk])
        frames += engine.decode_stream(stream)
    stream.input_finished()
    frames += engine.decode_stream(stream)
    times = np.array([f.timestamp for f in frames])
    T = len(tg.arkit)
    zeros3, zeros6 = np.zeros((T, 3), np.float32), np.zeros((T, 6), np.float32)
    target_verts = track_vertices(engine, tg.arkit, tg.jaw, zeros3, zeros6)

    def gap(v):
        return 1000 * float(np.asarray(lip_gap(engine.head, v[None])).ravel()[0])

    picks = [p for p in utt.phones if p.phone in OPEN_VOWELS][:args.per_class]
    picks += [p for p in utt.phones if phone_class(p.phone) == "bilabial"][:args.per_class]
    renderer = Renderer(engine.head, args.size, args.size)
    images, labels = [], []
    for p in picks:
        t = (p.start + p.end) / 2
        f = frames[int(np.argmin(np.abs(times - t)))]
        v_model = engine.vertices(f)
        v_target = target_verts[min(int(t * vocab.INTERNAL_FPS), T - 1)]
        for who, v in (("model", v_model), ("targets", v_target)):
            images.append(renderer.render(v))
            labels.append(f"/{p.phone}/ {t:.2f}s {who} {gap(v):.1f} mm")
    contact_sheet(images, labels, columns=4,
                  title=f"{utt.uid}: \"{utt.text[:70]}\"", path=args.out)
    print(f"{args.out}: {utt.uid} ({utt.duration:.1f} s), {len(picks)} phones")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Does the closure gap on CTC-aligned real voices come from the alignments? (issue 12)

Two tables for a built corpus:
  * per real voice: the share of its phones (silence excluded) that the aligner gave a single
    10 ms frame, the median phone length, and the same share among /p b m/; pocketsphinx
    (English) never gives fewer than 3 frames, `ctc_align`'s Viterbi gives a phone at least one;
  * per held-out real speaker: the lips-closed AUC of a model (bilabial centres against
    labiodental, dental, alveolar and velar centres, as `closure_probe.py`) for bilabials
    aligned to one frame, to three or more, and over all of them with the maximum over the
    segment +-20 ms instead of the centre.

    .venv/bin/python scripts/alignment_probe.py build/corpus facestream/assets/default_model.pt
"""
from __future__ import annotations

import argparse

import numpy as np

from closure_probe import OTHER, auc
from facestream import vocab

FRAME_MS = 1000.0 / vocab.INTERNAL_FPS


def segment_frames(ph) -> int:
    """An aligned phone's length in 10 ms frames."""
    return int(round((ph.end - ph.start) * 1000.0 / FRAME_MS))


def voice_table(corpus_root: str, per_voice: int) -> list[str]:
    from facestream.training.corpus.store import Corpus, is_real
    corpus = Corpus(corpus_root)
    lines = ["| voice | split | aligner | phones | one frame | median (ms) | bilabials | one frame |",
             "|---|---|---|---|---|---|---|---|"]
    for voice in sorted({r["voice"] for r in corpus.records if is_real(r)}):
        view = corpus.select(voice=voice)
        n = min(per_voice, len(view))
        frames, bil = [], []
        for i in np.linspace(0, len(view) - 1, n).astype(int):
            utt, _ = view[int(i)]
            for ph in utt.phones:
                if ph.phone == "sil":
                    continue
                frames.append(segment_frames(ph))
                if ph.phone in ("p", "b", "m"):
                    bil.append(frames[-1])
        if len(frames) < 100:  # single words and letters: too few to read
            continue
        f, b = np.asarray(frames), np.asarray(bil)
        rec = view.records[0]
        lines.append(f"| {voice} | {rec['split']} | {rec.get('meta', {}).get('aligner', '?')} | "
                     f"{len(f)} | {np.mean(f <= 1):.2f} | {np.median(f) * FRAME_MS:.0f} | {len(b)} | "
                     f"{np.mean(b <= 1) if len(b) else float('nan'):.2f} |")
    return lines


def auc_table(corpus_root: str, checkpoint: str, limit: int) -> list[str]:
    import torch
    from facestream.contract import OUT_CLOSURE
    from facestream.training.evaluate import TorchPredictor, load_sequences, phone_class, stream_raw
    pred = TorchPredictor(checkpoint)
    groups: dict[str, dict[str, list]] = {}
    for s in load_sequences(corpus_root, ("test-real-speakers", "val-real-speakers"), 0):
        g = groups.setdefault(s.voice, {"n": [], "one": [], "three": [], "neg": [], "win": [],
                                        "win_neg": []})
        if len(g["n"]) >= limit:
            continue
        g["n"].append(s.uid)
        p = torch.sigmoid(stream_raw(pred.model, s)[:, OUT_CLOSURE]).numpy()
        T = len(p)
        for ph in s.phones:
            c = phone_class(ph.phone)
            if c != "bilabial" and c not in OTHER:
                continue
            fps = vocab.INTERNAL_FPS
            t = min(int((ph.start + ph.end) / 2 * fps), T - 1)
            lo, hi = max(0, int(ph.start * fps) - 2), min(T, int(np.ceil(ph.end * fps)) + 2)
            if c == "bilabial":
                k = segment_frames(ph)
                if k <= 1:
                    g["one"].append(p[t])
                elif k >= 3:
                    g["three"].append(p[t])
                g["win"].append(p[lo:max(hi, lo + 1)].max())
            else:
                g["neg"].append(p[t])
                g["win_neg"].append(p[lo:max(hi, lo + 1)].max())
    lines = ["| speaker | sequences | bilabials of one frame: AUC (n) | of 3+ frames: AUC (n) | "
             "all, max over segment +-20 ms: AUC |", "|---|---|---|---|---|"]
    for voice, g in sorted(groups.items(), key=lambda kv: -len(kv[1]["n"])):
        if len(g["one"]) + len(g["three"]) < 10:
            continue
        lines.append(f"| {voice} | {len(g['n'])} | {auc(g['one'], g['neg']):.3f} ({len(g['one'])}) | "
                     f"{auc(g['three'], g['neg']):.3f} ({len(g['three'])}) | "
                     f"{auc(g['win'], g['win_neg']):.3f} |")
    return lines


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("corpus")
    ap.add_argument("checkpoint")
    ap.add_argument("--limit", type=int, default=60, help="sequences per held-out speaker")
    ap.add_argument("--per-voice", type=int, default=60, help="utterances per voice (first table)")
    args = ap.parse_args(argv)
    print("\n".join(voice_table(args.corpus, args.per_voice)))
    print()
    print("\n".join(auc_table(args.corpus, args.checkpoint, args.limit)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

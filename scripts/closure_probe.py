"""Why bilabial closure does not carry over to unseen real voices (issue 12): a probe of the
lips-closed output, separate from the gate that `calibrate` chooses.

For each held-out split (and, for synthetic test speech, through telephone channels: 8 kHz
band, GSM 06.10 via sox) it reports
  * AUC of the closure probability at phone centres, /p b m/ against labiodental, dental,
    alveolar and velar consonants: how well the classifier separates them at all (1 = always,
    0.5 = chance); no gate can do better than what this allows;
  * the median probability at bilabial and at other consonant centres;
  * the same AUC against each class alone (classes with 10+ centres; nan otherwise);
  * closure of the decoded face within +-0, 20, 40, 80 ms of each aligned /p b m/: whether
    the misses are timing (alignment or the model's lead) or missing closures.

    .venv/bin/python scripts/closure_probe.py build/corpus facestream/assets/default_model.pt \
        --limit 60 --channels
"""
from __future__ import annotations

import argparse
import dataclasses
import subprocess
import tempfile

import numpy as np

WINDOWS_FRAMES = (0, 2, 4, 8)  # +- frames at 100 fps
OTHER = ("labiodental", "dental", "alveolar", "velar")


def auc(pos, neg) -> float:
    """Mann-Whitney AUC of pos > neg (ties counted half)."""
    from scipy.stats import rankdata
    pos, neg = np.asarray(pos, float), np.asarray(neg, float)
    if not len(pos) or not len(neg):
        return float("nan")
    r = rankdata(np.concatenate([pos, neg]))
    return float((r[:len(pos)].sum() - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg)))


def gsm(x: np.ndarray) -> np.ndarray:
    """16 kHz float32 through GSM 06.10 at 8 kHz and back (sox), same length."""
    import soundfile as sf
    with tempfile.TemporaryDirectory() as d:
        sf.write(f"{d}/a.wav", x, 16000, subtype="FLOAT")
        subprocess.run(["sox", "-V1", f"{d}/a.wav", "-r", "8000", "-c", "1", f"{d}/a.gsm"], check=True)
        subprocess.run(["sox", "-V1", f"{d}/a.gsm", "-r", "16000", "-e", "float", "-b", "32",
                        f"{d}/b.wav"], check=True)
        y, _ = sf.read(f"{d}/b.wav", dtype="float32")
    return np.pad(y[:len(x)], (0, max(0, len(x) - len(y)))).astype(np.float32)


def probe(pred, mh, seqs) -> dict:
    import torch
    from facestream import vocab
    from facestream.contract import OUT_CLOSURE
    from facestream.training.evaluate import CLOSED_MM, phone_class, stream_raw
    pos, neg = [], []
    neg_by_class = {c: [] for c in OTHER}
    by_context = {}  # (phone, what precedes it) -> closure probabilities at its centres
    within = dict.fromkeys(WINDOWS_FRAMES, 0)
    centre_closed, shut = 0, {c: [0, 0] for c in OTHER}  # class -> [shut, count]
    for s in seqs:
        p = torch.sigmoid(stream_raw(pred.model, s)[:, OUT_CLOSURE]).numpy()
        gap = mh.lip_gap(mh.vertices(*pred(s))) * 1000.0
        T = len(p)
        for i, ph in enumerate(s.phones):
            c = phone_class(ph.phone)
            t = min(int((ph.start + ph.end) / 2 * vocab.INTERNAL_FPS), T - 1)
            if c == "bilabial" or ph.phone == "bh":
                by_context.setdefault((ph.phone, left_context(s.phones, i)), []).append(p[t])
            if c == "bilabial":
                pos.append(p[t])
                centre_closed += bool(gap[t] < CLOSED_MM)
                lo = int(ph.start * vocab.INTERNAL_FPS)
                hi = int(np.ceil(ph.end * vocab.INTERNAL_FPS))
                for w in within:
                    a = min(max(0, lo - w), T - 1)
                    within[w] += bool(gap[a:max(a + 1, min(hi + w, T))].min() < CLOSED_MM)
            elif c in OTHER:
                neg.append(p[t])
                neg_by_class[c].append(p[t])
                shut[c][0] += bool(gap[t] < CLOSED_MM)
                shut[c][1] += 1
    n = max(1, len(pos))
    false = {c: a / b for c, (a, b) in shut.items() if b >= 10}  # classes with 10+ centres
    return {"sequences": len(seqs), "bilabials": len(pos), "auc": auc(pos, neg),
            "auc_by_class": {c: auc(pos, v) if len(v) >= 10 else float("nan")
                             for c, v in neg_by_class.items()},
            "p_bilabial": float(np.median(pos)) if pos else float("nan"),
            "p_other": float(np.median(neg)) if neg else float("nan"),
            "closed_within_ms": {10 * w: v / n for w, v in within.items()},
            "closure_centre": centre_closed / n,
            "worst_false": max(false.items(), key=lambda kv: kv[1]) if false else ("-", float("nan")),
            "by_context": {k: (len(v), float(np.median(v)), auc(v, neg))
                           for k, v in sorted(by_context.items())}}


def left_context(phones, i: int) -> str:
    """What precedes phones[i]: 'pause' (or the start), 'nasal', 'vowel' or 'consonant'.
    Spanish /b/ is a stop after a pause or a nasal and [β] elsewhere (docs/rig.md)."""
    from facestream.training.phonemes import PHONES
    prev = PHONES[phones[i - 1].phone] if i else PHONES["sil"]
    if prev.kind == "silence":
        return "pause"
    return "vowel" if prev.kind == "vowel" else "nasal" if prev.manner == "nasal" else "consonant"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("corpus")
    ap.add_argument("checkpoint")
    ap.add_argument("--limit", type=int, default=60)
    ap.add_argument("--splits", default="test,val-real-speakers,test-real-speakers")
    ap.add_argument("--by-speaker", action="store_true", help="real splits also speaker by speaker")
    ap.add_argument("--channels", action="store_true", help="also synthetic test speech "
                    "through the 8 kHz band and GSM")
    ap.add_argument("--by-context", action="store_true", help="also each bilabial (and "
                    "Spanish [β]) by what precedes it: count, median p, AUC")
    ap.add_argument("--voices", default="", help="comma-separated real voices to probe whole, "
                    "whatever their split (e.g. a source the checkpoint never trained on: "
                    "fillets-cs,fillets-nl for the shipped model)")
    args = ap.parse_args(argv)
    from facestream.engine.head import load_head
    from facestream.training.corpus.augment import through_8k
    from facestream.training.evaluate import (MeasuredHead, TorchPredictor, load_sequences,
                                              load_voice_sequences)
    pred, mh = TorchPredictor(args.checkpoint), MeasuredHead(load_head())
    seqs = load_sequences(args.corpus, splits=tuple(args.splits.split(",")), limit=args.limit)
    groups = {}
    for s in seqs:
        groups.setdefault(s.split, []).append(s)
        if args.by_speaker and "real" in s.split:
            groups.setdefault(f"{s.split}: {s.voice}", []).append(s)
    for voice in (v for v in args.voices.split(",") if v):
        groups[f"{voice} (whole voice)"] = load_voice_sequences(args.corpus, voice, args.limit)
    if args.channels and "test" in groups:
        for name, f in (("test, 8 kHz band", lambda x: through_8k(x).astype(np.float32)),
                        ("test, GSM 06.10", gsm)):
            groups[name] = [dataclasses.replace(s, audio=f(s.audio)) for s in groups["test"]]
    print("| split | sequences | bilabials | AUC bilabial vs other consonants | median p bilabial / other | "
          "closed within ±0 / 20 / 40 / 80 ms | closed at centre | worst false closure (class) | "
          "AUC vs " + " / ".join(OTHER) + " |")
    print("|---|---|---|---|---|---|---|---|---|")
    contexts = {}
    for name, group in groups.items():
        r = probe(pred, mh, group)
        contexts[name] = r["by_context"]
        w = " / ".join(f"{v:.2f}" for v in r["closed_within_ms"].values())
        print(f"| {name} | {r['sequences']} | {r['bilabials']} | {r['auc']:.3f} | "
              f"{r['p_bilabial']:.2f} / {r['p_other']:.2f} | {w} | {r['closure_centre']:.2f} | "
              f"{r['worst_false'][1]:.2f} ({r['worst_false'][0]}) | "
              + " / ".join(f"{v:.3f}" for v in r["auc_by_class"].values()) + " |", flush=True)
    if args.by_context:
        print("\n| split | phone | after | count | median p | AUC vs other consonants |")
        print("|---|---|---|---|---|---|")
        for name, rows in contexts.items():
            for (phone, ctx), (n, med, a) in rows.items():
                if n >= 3:
                    print(f"| {name} | {phone} | {ctx} | {n} | {med:.2f} | {a:.3f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

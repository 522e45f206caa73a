"""Choose a trained model's closure gate (ModelConfig.gate_lo/gate_hi) on held-out speech.

The lips-closed output is a classifier; how confident it must be before the lips shut is a
decision made after training, on the validation split only (never the test splits the
README reports): every (lo, hi) on a grid is scored (bilabial closure rate, LVE, open-vowel
rate) and `choose` picks one: the lowest LVE among gates that reach the closure target with
open vowels still open, else the most closures within an LVE bound. Missed closures on
/p b m/ are the lip-sync error people see first, which is why closure leads. The network
runs once per sequence; only the cheap decoding is repeated per gate.

Then the opening gain (ModelConfig.open_gain): a model trained on squared error opens the
lips less than its targets on voices it is unsure of. With the chosen gate, every gain on
GRID_GAIN is scored and the one whose lip opening (95th percentile per sequence, median over
sequences) is within 5% of the targets' at the lowest LVE is kept (`choose_gain`). With
`--gain-splits` the gain must do so in every group of those splits at once (`choose_joint_gain`):
a network unsure of real voices opens less on them than on synthetic ones, so one gain can
only fit both within a tolerance, and `--gain-splits val,val-real-speakers --gain-tolerance
0.1` asks for the done-when of issue 12 (within 10% on real and synthetic voices).

    facestream calibrate runs/default2/model.pt -o runs/default2/calibrated.pt \
        --corpus build/corpus --splits val-real-speakers
"""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from ..engine.head import load_head
from .checkpoint import load_checkpoint, save_checkpoint
from .evaluate import MeasuredHead, aggregate, load_sequences, sequence_metrics, stream_raw
from .network import decode_outputs

GRID_LO = (0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35)
GRID_WIDTH = (0.1, 0.2, 0.3, 0.4)
GRID_GAIN = tuple(round(1.0 + 0.05 * i, 2) for i in range(-4, 25))  # 0.8 .. 2.2


def score_gates(model, sequences, gates, head=None, gains=None, raws=None) -> list[dict]:
    """-> one aggregate() dict per (lo, hi) in gates (times each opening gain in `gains`,
    default the model's), with "gate" and "open_gain" added."""
    mh = MeasuredHead(head or load_head())
    raws = raws if raws is not None else [stream_raw(model, s) for s in sequences]
    out = []
    for gain in gains or (model.config.open_gain,):
        for lo, hi in gates:
            rows = []
            for s, raw in zip(sequences, raws):
                d = decode_outputs(raw, lo, hi, open_gain=gain)
                rows.append(sequence_metrics(mh, s, d["arkit"].numpy(), d["jaw"].numpy()))
            res = aggregate(rows)
            res["gate"], res["open_gain"] = [lo, hi], gain
            out.append(res)
    return out


def choose_gain(scores: list[dict], tolerance: float = 0.05) -> dict:
    """The lowest-LVE score whose lip-opening 95th percentile is within `tolerance` (relative)
    of the targets'; failing that, the one closest to them. Opening more than the model is sure
    of costs vertex error, so of the gains that match the spread the cheapest is kept."""
    near = [s for s in scores if abs(s["gap_p95_ratio"] - 1.0) <= tolerance]
    if near:
        return min(near, key=lambda s: s["LVE_1e-5m2"])
    return min(scores, key=lambda s: abs(np.log(max(s["gap_p95_ratio"], 1e-6))))


def choose_joint_gain(by_group: dict[str, list[dict]], tolerance: float = 0.05) -> float:
    """The opening gain for several groups of sequences at once: `by_group` maps a label to
    its scores, one per gain (each with "open_gain"). Of the gains whose lip-opening 95th
    percentile is within `tolerance` of the targets' in every group, the one with the lowest
    mean LVE over the groups; failing that, the one whose worst group is closest in ratio."""
    gains = sorted({s["open_gain"] for scores in by_group.values() for s in scores})
    at = {label: {s["open_gain"]: s for s in scores} for label, scores in by_group.items()}
    if any(set(g) != set(gains) for g in at.values()):
        raise ValueError("every group must be scored at the same gains")

    def worst(g: float) -> float:
        return max(abs(np.log(max(a[g]["gap_p95_ratio"], 1e-6))) for a in at.values())

    near = [g for g in gains if all(abs(a[g]["gap_p95_ratio"] - 1.0) <= tolerance
                                    for a in at.values())]
    if near:
        return min(near, key=lambda g: np.mean([a[g]["LVE_1e-5m2"] for a in at.values()]))
    return min(gains, key=worst)


def regate_choice(scores: list[dict], current: dict, min_open_rate: float, max_false: float,
                  ratio_tolerance: float) -> dict:
    """Of gates scored at one opening gain, the one closing the most bilabials (then the
    lowest LVE) with open vowels opened, false closures within max_false and the lip opening
    still within ratio_tolerance of the targets'; `current` if none does better."""
    ok = [s for s in scores if s["open_rate"] >= min_open_rate
          and max_false_closure(s) <= max_false
          and abs(s["gap_p95_ratio"] - 1.0) <= ratio_tolerance
          and s["closure_rate"] > current["closure_rate"]]
    if not ok:
        return current
    return max(ok, key=lambda s: (round(s["closure_rate"], 3), -s["LVE_1e-5m2"]))


def max_false_closure(score: dict) -> float:
    """The worst consonant class's false-closure rate of an aggregate() dict (0 if absent)."""
    fc = score.get("false_closure_by_class") or {}
    return max((v for c, v in fc.items() if c != "silence"), default=0.0)


def choose(scores: list[dict], reference: dict, max_lve_ratio: float, min_open_rate: float,
           min_closure: float = 1.01, max_false: float = 1.0) -> dict:
    """The gate with the lowest LVE among those closing at least min_closure of bilabials with
    open vowels opened at min_open_rate and no consonant class shut at more than max_false
    of its centres; failing that, the most closures with LVE at most max_lve_ratio x the
    reference's (the trained gate) under the same two limits; failing that, the reference."""
    opens = [s for s in scores if s["open_rate"] >= min_open_rate
             and max_false_closure(s) <= max_false]
    reach = [s for s in opens if s["closure_rate"] >= min_closure]
    if reach:
        return min(reach, key=lambda s: s["LVE_1e-5m2"])
    ok = [s for s in opens if s["LVE_1e-5m2"] <= max_lve_ratio * reference["LVE_1e-5m2"]]
    if not ok:
        return reference
    return max(ok, key=lambda s: (round(s["closure_rate"], 3), -s["LVE_1e-5m2"]))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="facestream calibrate", description=__doc__.split("\n")[0])
    ap.add_argument("checkpoint")
    ap.add_argument("-o", "--output", required=True, help="checkpoint to write with the chosen gate")
    ap.add_argument("--corpus", default="build/corpus")
    ap.add_argument("--splits", default="val-real-speakers",
                    help="held-out splits to choose on (not test): by default the real speakers "
                         "held out for calibration, never sentences of trained speakers")
    ap.add_argument("--limit", type=int, default=0, help="at most this many sequences per split")
    ap.add_argument("--max-lve-ratio", type=float, default=1.15,
                    help="the chosen gate may raise LVE by at most this factor over the trained gate")
    ap.add_argument("--min-open-rate", type=float, default=0.95,
                    help="and must still open the lips on at least this share of open vowels")
    ap.add_argument("--min-closure", type=float, default=0.9,
                    help="prefer the lowest-LVE gate closing at least this share of /p b m/ "
                         "(the project's target); 1.01 turns this off")
    ap.add_argument("--max-false-closure", type=float, default=0.30,
                    help="and shut the lips at no more than this share of any non-bilabial "
                         "consonant class's centres (the project's goal is 0.15; the shipped "
                         "model's classifier reaches 0.32 closure there on unseen real "
                         "speakers, 0.50 at 0.30, the old model's level: README)")
    ap.add_argument("--json", help="write every gate's scores here")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--gain-tolerance", type=float, default=0.05,
                    help="the opening gain must bring the lip opening's 95th percentile within "
                         "this relative distance of the targets' (the lowest-LVE such gain wins)")
    ap.add_argument("--no-open-gain", dest="open_gain", action="store_false",
                    help="keep the model's opening gain (do not calibrate it)")
    ap.add_argument("--gain-splits", default="",
                    help="choose the opening gain so that every group of these held-out splits "
                         "(e.g. val,val-real-speakers: synthetic and real voices) is within "
                         "--gain-tolerance at once; default: the gate's splits, pooled")
    args = ap.parse_args(argv)
    if any(s.startswith("test") for s in (args.splits + "," + args.gain_splits).split(",")):
        print("calibrate on validation data, not on the test split the README reports", file=sys.stderr)
        return 2
    torch.set_num_threads(args.threads)
    model, blob = load_checkpoint(args.checkpoint)
    seqs = load_sequences(args.corpus, tuple(args.splits.split(",")), args.limit)
    if not seqs:
        print(f"no sequences of split(s) {args.splits} in {args.corpus}", file=sys.stderr)
        return 2
    trained = (model.config.gate_lo, model.config.gate_hi)
    gates = [trained] + [(lo, round(lo + w, 3)) for lo in GRID_LO for w in GRID_WIDTH if lo + w <= 1.0]
    raws = [stream_raw(model, s) for s in seqs]
    scores = score_gates(model, seqs, gates, raws=raws)
    best = choose(scores[1:], scores[0], args.max_lve_ratio, args.min_open_rate, args.min_closure,
                  args.max_false_closure)
    for s in scores:
        mark = " <- chosen" if s is best else ""
        print(f"gate {s['gate'][0]:.2f}-{s['gate'][1]:.2f}: closure {s['closure_rate']:.3f}  "
              f"LVE {s['LVE_1e-5m2']:.3f}  open {s['open_rate']:.3f}  "
              f"false closures {max_false_closure(s):.3f}{mark}")
    gain_scores = score_gates(model, seqs, [tuple(best["gate"])], gains=GRID_GAIN, raws=raws) \
        if args.open_gain else [best]
    tuned = choose_gain(gain_scores, args.gain_tolerance)
    by_group = {}
    if args.open_gain and args.gain_splits:
        by_group = gain_groups(model, args, tuple(best["gate"]),
                               {s.uid: r for s, r in zip(seqs, raws)})
        gain = choose_joint_gain(by_group, args.gain_tolerance)
        tuned = next(s for s in gain_scores if s["open_gain"] == gain)
    for s in gain_scores:
        mark = " <- chosen" if s is tuned else ""
        groups = "".join(f"  {label} {next(g for g in scores if g['open_gain'] == s['open_gain'])['gap_p95_ratio']:.2f}"
                         for label, scores in by_group.items())
        print(f"open gain {s['open_gain']:.2f}: lip opening p95 {s['gap_p95_mm']:.1f} mm "
              f"(targets {s['target_gap_p95_mm']:.1f}, ratio {s['gap_p95_ratio']:.2f}{groups})  "
              f"closure {s['closure_rate']:.3f}  LVE {s['LVE_1e-5m2']:.3f}{mark}")
    regate = []
    if args.open_gain and tuned["open_gain"] != model.config.open_gain:
        # A wider-open mouth shuts less by itself at consonants, so a lower gate may now close
        # more bilabials within the same false-closure limit: choose the gate again at the gain.
        regate = score_gates(model, seqs, gates[1:], gains=(tuned["open_gain"],), raws=raws)
        tuned = regate_choice(regate, tuned, args.min_open_rate, args.max_false_closure,
                              2 * args.gain_tolerance)
        best = {**best, "gate": tuned["gate"]}
        print(f"gate at open gain {tuned['open_gain']:.2f}: {tuned['gate'][0]:.2f}-"
              f"{tuned['gate'][1]:.2f}, closure {tuned['closure_rate']:.3f}, false closures "
              f"{max_false_closure(tuned):.3f}, ratio {tuned['gap_p95_ratio']:.2f}, "
              f"LVE {tuned['LVE_1e-5m2']:.3f}")
    if args.json:
        strip = lambda s: {k: v for k, v in s.items() if k != "by_speaker"}  # noqa: E731
        Path(args.json).write_text(json.dumps({
            "trained": list(trained), "chosen": best["gate"], "open_gain": tuned["open_gain"],
            "scores": [strip(s) for s in scores], "gain_scores": [strip(s) for s in gain_scores],
            "regate_scores": [strip(s) for s in regate],
            "gain_scores_by_group": {k: [strip(s) for s in v] for k, v in by_group.items()}},
            indent=1, default=float))
    model.config = replace(model.config, gate_lo=best["gate"][0], gate_hi=best["gate"][1],
                           open_gain=tuned["open_gain"])
    extra = dict(blob.get("extra") or {})
    extra["calibration"] = {"splits": args.splits, "sequences": len(seqs), "gate": best["gate"],
                            "closure_rate": tuned["closure_rate"], "LVE_1e-5m2": tuned["LVE_1e-5m2"],
                            "open_gain": tuned["open_gain"], "gap_p95_ratio": tuned["gap_p95_ratio"],
                            "gain_splits": args.gain_splits or args.splits}
    save_checkpoint(args.output, model, head=blob["head"], step=blob.get("step", 0),
                    train_config=blob.get("train_config"), extra=extra)
    print(f"wrote {args.output} with gate {best['gate']} and open gain {tuned['open_gain']}")
    return 0


def gain_groups(model, args, gate: tuple[float, float], known: dict) -> dict[str, list[dict]]:
    """Scores over GRID_GAIN at `gate` for each group (label) of `args.gain_splits`; the
    network runs only on sequences not already in `known` (uid -> raw outputs)."""
    seqs = load_sequences(args.corpus, tuple(args.gain_splits.split(",")), args.limit)
    groups: dict[str, list] = {}
    for s in seqs:
        groups.setdefault(s.split, []).append(s)
    out = {}
    for label, group in groups.items():
        raws = [known[s.uid] if s.uid in known else stream_raw(model, s) for s in group]
        out[label] = score_gates(model, group, [gate], gains=GRID_GAIN, raws=raws)
    return out


if __name__ == "__main__":
    sys.exit(main())

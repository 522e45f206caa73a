"""Look at a corpus: one sample as a picture, the whole corpus as a table of numbers.

    python -m facestream.training.corpus.inspect data/corpus                 # statistics
    python -m facestream.training.corpus.inspect data/corpus --plot 0 17 --out out/

matplotlib (train extra) is imported only inside `plot_sample`, through its object API with
the Agg canvas, so nothing here touches pyplot's global backend.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from ... import vocab
from .store import SPLITS, Corpus, CorpusStats
from .types import Targets, Utterance

# The target curves worth seeing for lip sync, and one for the eyes.
PLOT_CURVES: tuple[str, ...] = ("jawOpen", "mouthClose", "mouthPucker", "mouthFunnel",
                                "mouthSmileLeft", "mouthSmileRight", "mouthRollLower",
                                "eyeBlinkLeft")
_EMOTION_COLOURS = ("#b0b0b0", "#f2c14e", "#4d7ea8", "#f78154", "#7d5ba6", "#5fad56", "#d1495b")


def plot_sample(utterance: Utterance, targets: Targets, path: str | Path,
                title: str | None = None) -> Path:
    """Write a PNG: waveform, spectrogram, phone track, main target curves, emotion track.

    Every panel shares one time axis in seconds; frame t is drawn at its centre,
    (t + 0.5) * HOP / SAMPLE_RATE, the instant its phone_id refers to.
    """
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as e:
        raise ImportError("plot_sample needs matplotlib: pip install 'facestream[train]'") from e
    from scipy import signal

    path = Path(path)
    audio = np.asarray(utterance.audio, dtype=np.float32)
    sr = vocab.SAMPLE_RATE
    dur = max(len(audio) / sr, 1e-3)
    t_frames = (np.arange(len(targets.arkit)) + 0.5) * vocab.HOP_SAMPLES / sr

    fig = Figure(figsize=(min(6 + 4 * dur, 30), 12), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(5, 1, sharex=True, height_ratios=(1.2, 2, 0.6, 2.4, 1.4))
    ax_wav, ax_spec, ax_ph, ax_tg, ax_emo = axes
    fig.suptitle(title or f"{utterance.uid}  |  {utterance.source} / {utterance.voice} / "
                 f"{utterance.language}  |  {utterance.text[:90]}", fontsize=10)

    # waveform: min/max per block when there are more samples than pixels
    block = max(1, len(audio) // 4000)
    if block > 1 and len(audio) >= block:
        n = len(audio) // block
        blocks = audio[: n * block].reshape(n, block)
        tb = (np.arange(n) + 0.5) * block / sr
        ax_wav.fill_between(tb, blocks.min(1), blocks.max(1), color="#335c81", lw=0)
    else:
        ax_wav.plot(np.arange(len(audio)) / sr, audio, color="#335c81", lw=0.6)
    ax_wav.set_ylabel("audio")
    ax_wav.set_ylim(-1.05 * max(np.abs(audio).max(initial=0.0), 1e-3),
                    1.05 * max(np.abs(audio).max(initial=0.0), 1e-3))

    if len(audio) >= 400:
        f, ts, sxx = signal.spectrogram(audio, fs=sr, nperseg=400, noverlap=400 - vocab.HOP_SAMPLES)
        db = 10 * np.log10(sxx + 1e-10)
        ax_spec.imshow(db, origin="lower", aspect="auto", cmap="magma",
                       extent=(0, len(audio) / sr, 0, f[-1] / 1000),
                       vmin=db.max() - 80, vmax=db.max())
    ax_spec.set_ylabel("kHz")

    for k, seg in enumerate(utterance.phones):
        ax_ph.axvspan(seg.start, seg.end, color=("#e8eef4", "#cfdbe8")[k % 2], lw=0)
        if seg.phone != "sil" or seg.end - seg.start > 0.08:
            ax_ph.text((seg.start + seg.end) / 2, 0.5, seg.phone, ha="center", va="center",
                       fontsize=7, clip_on=True)
    ax_ph.set_yticks([])
    ax_ph.set_ylabel("phones")

    for name in PLOT_CURVES:
        ax_tg.plot(t_frames, targets.arkit[:, vocab.ARKIT_INDEX[name]], lw=1.0, label=name)
    ax_tg.set_ylim(-0.02, 1.02)
    ax_tg.set_ylabel("ARKit weight")
    ax_jaw = ax_tg.twinx()
    ax_jaw.plot(t_frames, targets.jaw[:, 0], color="black", ls="--", lw=1.0, label="jaw pitch")
    ax_jaw.set_ylim(-0.02, max(vocab.JAW_OPEN_MAX_RAD, float(np.max(targets.jaw[:, 0], initial=0))))
    ax_jaw.set_ylabel("jaw pitch (rad)")
    lines = ax_tg.get_lines() + ax_jaw.get_lines()
    ax_tg.legend(lines, [ln.get_label() for ln in lines], fontsize=7, ncol=5, loc="upper right")

    ax_emo.stackplot(t_frames, np.asarray(targets.emotion, dtype=np.float32).T,
                     labels=vocab.EMOTION_NAMES, colors=_EMOTION_COLOURS, alpha=0.85)
    ax_emo.plot(t_frames, targets.intensity, color="black", lw=1.2, label="intensity")
    ax_emo.set_ylim(0, 1.02)
    ax_emo.set_ylabel("emotion")
    ax_emo.legend(fontsize=7, ncol=8, loc="upper right")
    ax_emo.set_xlabel("seconds")
    ax_emo.set_xlim(0, dur)

    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png")
    return path


def format_stats(corpus: Corpus | CorpusStats, rarest: int = 10) -> str:
    """Printable statistics: hours per source/voice/language, split sizes, phone coverage
    (the `rarest` least frequent phones, and those never seen), emotion balance."""
    s = corpus.stats() if isinstance(corpus, Corpus) else corpus
    out = [f"{s.utterances} utterances, {s.hours:.2f} h, mean intensity {s.mean_intensity:.2f}"]

    def table(title: str, hours: dict[str, float]) -> None:
        out.append(f"\n{title}")
        for k, h in sorted(hours.items(), key=lambda kv: -kv[1]):
            share = 100 * h / s.hours if s.hours else 0.0
            out.append(f"  {k:<24} {h:8.2f} h  {share:5.1f}%")

    out.append("\nsplits")
    for sp in SPLITS:
        out.append(f"  {sp:<24} {s.utterances_by_split.get(sp, 0):8d} utt "
                   f"{s.hours_by_split.get(sp, 0.0):8.2f} h")
    table("hours by source", s.hours_by_source)
    table("hours by language", s.hours_by_language)
    table("hours by voice", s.hours_by_voice)

    seen = {p: c for p, c in s.phone_segments.items() if c > 0}
    out.append(f"\nphone coverage: {len(seen)} of {len(s.phone_segments)} inventory phones seen")
    missing = sorted(p for p, c in s.phone_segments.items() if c == 0)
    if missing:
        out.append(f"  never seen: {' '.join(missing)}")
    out.append(f"  rarest {min(rarest, len(seen))} (segments, frames):")
    for p, c in sorted(seen.items(), key=lambda kv: (kv[1], kv[0]))[:rarest]:
        out.append(f"    {p:<5} {c:8d} {s.phone_frames.get(p, 0):10d}")

    out.append("\nemotion balance (mean weight, frames where strongest)")
    total = sum(s.dominant_emotion_frames.values()) or 1
    for name in vocab.EMOTION_NAMES:
        out.append(f"  {name:<10} {100 * s.emotion_share.get(name, 0.0):5.1f}%  "
                   f"{100 * s.dominant_emotion_frames.get(name, 0) / total:5.1f}%")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m facestream.training.corpus.inspect",
                                 description=__doc__.splitlines()[0])
    ap.add_argument("root", help="corpus directory (holds manifest.json)")
    ap.add_argument("--split", choices=SPLITS, help="only this split")
    ap.add_argument("--plot", type=int, nargs="*", default=[], help="utterance indices to plot")
    ap.add_argument("--out", default=".", help="directory for the PNGs")
    args = ap.parse_args(argv)
    corpus = Corpus(args.root)
    if args.split:
        corpus = corpus.select(split=args.split)
    print(format_stats(corpus))
    for i in args.plot:
        utt, tg = corpus[i]
        name = utt.uid.replace("/", "_")
        print(plot_sample(utt, tg, Path(args.out) / f"{i:06d}_{name}.png"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

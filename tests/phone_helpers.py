"""Phone sequences and meshes for the rig and expressive-layer tests."""

from facestream import vocab
from facestream.training.corpus.types import PhoneSeg


def seq(*spec, start=0.0):
    """PhoneSeg list from (symbol, milliseconds) pairs."""
    out, t = [], start
    for sym, ms in spec:
        out.append(PhoneSeg(t, t + ms / 1000, sym))
        t += ms / 1000
    return out


def centre_frame(seg, fps=vocab.INTERNAL_FPS):
    """The frame whose span holds the segment's centre."""
    return int(0.5 * (seg.start + seg.end) * fps)

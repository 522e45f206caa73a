"""The training corpus: speech with exact phone timing -> per-frame face targets, in shards."""
from .types import PhoneSeg, Targets, Utterance

__all__ = ["PhoneSeg", "Targets", "Utterance"]

"""The training corpus: speech with exact phone timing -> per-frame face targets, in shards.

Modules: synth (MBROLA, flite, festival voices), texts (sentences per language), asterisk +
debian_voices + fillets + fotaq + align_sphinx + ctc_align (real speech and its alignment),
rig (phones -> articulation), expressive (emotion, blinks, head motion), augment
(training-time audio effects), store (shards, splits, resumable builds), inspect (plots,
statistics), byo (VOCASET and wav + FLAME-parameter directories), build (the whole pipeline).
"""
from .types import PhoneSeg, Targets, Utterance

__all__ = ["PhoneSeg", "Targets", "Utterance"]

"""The confidence test run on real recordings as a build runs it (corpus.build._align)."""
from dataclasses import replace


def check_rank_test(prompts, source):
    """Align `prompts` (about 24 lines of one voice): at least half must be kept, each kept
    utterance carrying its source, speaker and a positive rank-test margin and covering its
    audio; the same audio read against shuffled transcripts must keep at most a sixth.
    Returns the kept utterances."""
    from facestream.training.corpus.build import _align
    utts, rejected = _align(prompts)
    assert len(utts) + rejected == len(prompts) and len(utts) >= len(prompts) // 2
    by_id = {p.id: p for p in prompts}
    for u in utts:
        p = by_id[u.uid.split("/", 3)[3]]
        assert u.source == source and u.meta["speaker"] == p.speaker and u.meta["margin"] > 0
        assert abs(u.phones[-1].end - u.duration) < 0.011
    wrong = [replace(p, text=prompts[(i + 7) % len(prompts)].text) for i, p in enumerate(prompts)]
    utts_w, _ = _align(wrong)
    assert len(utts_w) <= len(prompts) // 6
    return utts

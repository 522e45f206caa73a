"""The expressive layer: emotion presets and their fusion with speech, emotion tracks,
blinks, head motion and `make_targets`, checked on the default head's mesh."""
import numpy as np
import pytest

from facestream import vocab
from facestream.engine import metrics
from facestream.engine.emotion import EMOTION_ARTICULATION, EMOTION_PRESETS, emotion_expression
from facestream.training import phonemes
from facestream.training.corpus import expressive, rig
from facestream.training.corpus.types import Utterance

K = vocab.ARKIT_INDEX
JAW = K["jawOpen"]


from phone_helpers import centre_frame, seq  # noqa: E402


def mesh(head, arkit, jaw_open):
    pose = np.zeros((len(arkit), vocab.POSE_DIM), np.float32)
    pose[:, vocab.POSE_SLICES["jaw"]] = vocab.jaw_open_to_pose(jaw_open)
    return head.forward(arkit, pose)


def fuse(art, emotion, intensity):
    return expressive.apply_emotion(art.free, art.free[:, JAW], emotion, intensity,
                                    closure=art.closure, labiodental=art.labiodental)


SPEECH = seq(("sil", 200), ("aa", 150), ("b", 70), ("uw", 150), ("m", 60), ("iy", 120),
             ("p", 80), ("ae", 150), ("f", 80), ("ow", 140), ("m", 45), ("ay", 200),
             ("sil", 250))


def synth_audio(seconds, rng, sr=vocab.SAMPLE_RATE):
    """A voiced buzz with a gliding pitch, in 4 Hz syllables, with stressed ones louder."""
    t = np.arange(int(seconds * sr)) / sr
    f0 = 140 * np.exp(0.15 * np.sin(2 * np.pi * 0.7 * t))
    phase = 2 * np.pi * np.cumsum(f0) / sr
    x = sum(np.sin(k * phase) / k for k in range(1, 8))
    env = np.clip(np.sin(2 * np.pi * 4 * t), 0, None) ** 2
    env *= 0.4 + 0.6 * (np.sin(2 * np.pi * 0.9 * t) > 0)
    env[(t < 0.3) | (t > seconds - 0.3)] = 0
    return (0.3 * x * env + 1e-3 * rng.normal(size=len(t))).astype(np.float32)


# ---- the presets ----------------------------------------------------------------------------
# FACS prototypes (Ekman & Friesen) as the ARKit shapes that carry each action unit.
AU_SHAPES = {
    1: ["browInnerUp"], 2: ["browOuterUpLeft", "browOuterUpRight"],
    4: ["browDownLeft", "browDownRight"], 5: ["eyeWideLeft", "eyeWideRight"],
    6: ["cheekSquintLeft", "cheekSquintRight"], 7: ["eyeSquintLeft", "eyeSquintRight"],
    9: ["noseSneerLeft", "noseSneerRight"], 10: ["mouthUpperUpLeft", "mouthUpperUpRight"],
    12: ["mouthSmileLeft", "mouthSmileRight"], 15: ["mouthFrownLeft", "mouthFrownRight"],
    20: ["mouthStretchLeft", "mouthStretchRight"], 23: ["mouthPressLeft", "mouthPressRight"],
    26: ["jawOpen"],
}
PROTOTYPES = {"happy": [6, 12], "sad": [1, 4, 15], "surprised": [1, 2, 5, 26],
              "fearful": [1, 2, 4, 5, 20, 26], "disgusted": [9, 10, 15], "angry": [4, 5, 7, 23]}


def test_presets_carry_their_facs_action_units():
    assert EMOTION_PRESETS["neutral"] == {}
    for emotion, aus in PROTOTYPES.items():
        preset = EMOTION_PRESETS[emotion]
        for au in aus:
            for shape in AU_SHAPES[au]:
                assert preset.get(shape, 0) >= 0.15, (emotion, au, shape)
        w = emotion_expression(emotion)
        assert all(w[a] == w[b] for a, b in vocab.ARKIT_LR_PAIRS), f"{emotion} is asymmetric"
        assert 0 < w.max() <= 1


def test_presets_move_the_face(head):
    rest = head.template
    for emotion in vocab.EMOTION_NAMES[1:]:
        w = emotion_expression(emotion)
        v = mesh(head, w[None], w[None, JAW])[0]
        assert np.linalg.norm(v - rest, axis=1).max() > 3e-3, emotion


# ---- fusion -------------------------------------------------------------------------------
def test_bilabials_close_under_every_emotion_and_intensity(head):
    rng = np.random.default_rng(5)
    frames = [centre_frame(s) for s in SPEECH if s.phone in phonemes.BILABIALS]
    styles = [rig.ArticulationStyle()] + [rig.ArticulationStyle.sample(rng) for _ in range(4)]
    worst = -1.0
    for style in styles:
        art = rig.articulate(SPEECH, style=style, rng=rng)
        for emotion in vocab.EMOTION_NAMES:
            for intensity in (0.3, 0.7, 1.0):
                arkit, jaw = fuse(art, emotion, intensity)
                gap = metrics.lip_gap(head, mesh(head, arkit[frames], jaw[frames]), signed=True)
                worst = max(worst, float(gap.max()))
        mixture = {"happy": 0.5, "surprised": 0.5}
        arkit, jaw = fuse(art, mixture, 1.0)
        gap = metrics.lip_gap(head, mesh(head, arkit[frames], jaw[frames]), signed=True)
        worst = max(worst, float(gap.max()))
    assert worst < 1e-3, f"lips {worst * 1e3:.2f} mm apart at a bilabial"


def test_labiodentals_reach_the_teeth_under_every_emotion(head):
    art = rig.articulate(SPEECH)
    f = [centre_frame(s) for s in SPEECH if s.phone in phonemes.LABIODENTALS]
    rest = metrics.lip_to_upper_teeth(head, head.template)
    for emotion in vocab.EMOTION_NAMES:
        arkit, jaw = fuse(art, emotion, 1.0)
        d = metrics.lip_to_upper_teeth(head, mesh(head, arkit[f], jaw[f]))
        assert d.max() < min(5e-3, rest - 1e-3), (emotion, d)


def test_emotions_modulate_articulation(head):
    ph = seq(("sil", 300), ("aa", 250), ("sil", 100), ("uw", 250), ("sil", 100), ("iy", 250),
             ("sil", 300))
    art = rig.articulate(ph)
    aa, uw, iy = (centre_frame(ph[i]) - 4 for i in (1, 3, 5))
    out = {e: fuse(art, e, 1.0) for e in vocab.EMOTION_NAMES}
    jaw = {e: out[e][1][aa] for e in out}
    assert jaw["sad"] < 0.85 * jaw["neutral"]  # sadness damps the jaw
    assert jaw["angry"] > jaw["neutral"] and jaw["surprised"] > jaw["angry"]
    pucker = {e: out[e][0][uw, K["mouthPucker"]] for e in out}
    assert pucker["happy"] < 0.7 * pucker["neutral"]  # a smile resists rounding
    width = {e: float(metrics.mouth_width(head, mesh(head, out[e][0][[iy]], out[e][1][[iy]]))[0])
             for e in ("neutral", "happy")}
    assert width["happy"] > width["neutral"] + 0.005  # and spreads the lips
    speech_b = seq(("sil", 200), ("aa", 150), ("b", 80), ("aa", 150), ("sil", 200))
    art_b = rig.articulate(speech_b)
    hold = art_b.closure > 0.99
    press = {e: fuse(art_b, e, 1.0)[0][hold, K["mouthPressLeft"]].mean()
             for e in ("neutral", "angry")}
    assert press["angry"] > press["neutral"] + 0.2  # anger presses the lips harder
    assert set(EMOTION_ARTICULATION) == set(vocab.EMOTION_NAMES)


def test_neutral_at_zero_intensity_leaves_speech_alone():
    art = rig.articulate(SPEECH)
    for emotion in ("neutral", "angry"):
        arkit, jaw = fuse(art, emotion, 0.0)
        assert np.allclose(arkit, art.arkit, atol=1e-6), emotion
        assert np.array_equal(jaw, arkit[:, JAW])


def test_apply_emotion_validates_its_inputs():
    art = rig.articulate(SPEECH)
    with pytest.raises(ValueError, match="intensity"):
        expressive.apply_emotion(art.free, art.free[:, JAW], "happy", 1.5)
    with pytest.raises(ValueError, match="unknown emotion"):
        expressive.apply_emotion(art.free, art.free[:, JAW], "bored", 1.0)
    with pytest.raises(ValueError, match="T x 52"):
        expressive.apply_emotion(art.free[:, :10], art.free[:, JAW], "happy", 1.0)


# ---- emotion tracks -------------------------------------------------------------------------
def test_emotion_tracks_sum_to_one_and_change_inside_utterances():
    rng = np.random.default_rng(0)
    changing = constant = mixed = 0
    for _ in range(80):
        w, i = expressive.emotion_track(300, rng)
        assert w.shape == (300, vocab.NUM_EMOTIONS) and i.shape == (300,)
        assert np.allclose(w.sum(1), 1.0, atol=1e-5) and (w >= 0).all()
        assert (i >= 0).all() and (i <= 1).all()
        assert np.abs(np.diff(w, axis=0)).max() < 0.25  # transitions are smooth
        assert np.abs(np.diff(i)).max() < 0.25
        moved = np.abs(w - w[0]).max() + np.abs(i - i[0]).max()
        changing += moved > 0.1
        constant += moved == 0
        mixed += ((w > 0.1).sum(1) >= 2).any()
    assert changing >= 45 and constant >= 8 and mixed >= 10, (changing, constant, mixed)


def test_emotion_track_changes_even_in_short_utterances():
    rng = np.random.default_rng(1)
    moved = 0
    for _ in range(40):
        w, i = expressive.emotion_track(120, rng, p_constant=0.0)
        moved += np.abs(w - w[0]).max() + np.abs(i - i[0]).max() > 0.05
    assert moved >= 38


# ---- blinks -------------------------------------------------------------------------------
def test_blinks_are_plausible():
    rng = np.random.default_rng(2)
    minutes = 10
    b = expressive.blink_track(minutes * 60 * vocab.INTERNAL_FPS, rng)
    assert b.shape[1] == 2 and b.min() >= 0 and b.max() <= 1
    closed = b[:, 0] > 0.5
    onsets = np.flatnonzero(closed[1:] & ~closed[:-1]) + 1
    offsets = np.flatnonzero(~closed[1:] & closed[:-1]) + 1
    rate = len(onsets) / minutes
    assert 14 <= rate <= 23, rate
    lengths = (offsets - onsets[: len(offsets)]) * 10  # ms with the lids mostly closed
    assert 40 <= np.median(lengths) <= 110, np.median(lengths)
    # Asymmetric: the lids close faster than they open.
    start = int(onsets[3])
    lo = start - 10 + int(np.argmax(b[start - 10 : start, 0] > 0.02))
    peak = start + int(np.argmax(b[start : start + 10, 0]))
    hi = peak + int(np.argmax(b[peak : peak + 30, 0] < 0.02))
    assert hi - peak > peak - lo
    assert np.corrcoef(b[:, 0], b[:, 1])[0, 1] > 0.9  # both eyes blink together
    gaps = np.diff(onsets) / vocab.INTERNAL_FPS
    assert (gaps < 0.45).any(), "no double blinks in ten minutes"


def test_blinks_close_the_lids_over_the_expression():
    w = np.tile(emotion_expression("surprised"), (3, 1))
    out = expressive.add_blinks(w, np.array([[0, 0], [0.5, 0.5], [1, 1]], np.float32))
    assert out[2, K["eyeBlinkLeft"]] == 1.0 and out[2, K["eyeWideLeft"]] == 0.0
    assert out[0, K["eyeWideLeft"]] == w[0, K["eyeWideLeft"]]


# ---- head motion ----------------------------------------------------------------------------
def test_neck_motion_is_small_and_follows_the_prosody():
    rng = np.random.default_rng(3)
    audio = synth_audio(6.0, rng)
    n = 600
    neck = expressive.neck_track(audio, n, rng)
    assert neck.shape == (n, 3) and neck.dtype == np.float32
    limits = np.radians(expressive.NECK_MAX_DEG)
    assert (np.abs(neck) <= limits + 1e-6).all()
    assert np.degrees(neck.std(0)).min() > 0.1  # it does move
    loud, f0z = expressive.prosody(audio, n)
    assert loud[:25].max() == 0 and loud[100:500].max() > 0.9
    assert (f0z != 0).mean() > 0.2
    # Nods follow stressed syllables: averaged over isolated loud syllables, the head pitches
    # down (positive x) from just before each to just after it.
    sr, beats = vocab.SAMPLE_RATE, np.arange(0.5, 5.0, 1.0)
    t = np.arange(6 * sr) / sr
    syllables = sum(np.exp(-0.5 * ((t - b) / 0.05) ** 2) for b in beats)
    taps = (0.5 * np.sin(2 * np.pi * 150 * t) * syllables).astype(np.float32)
    rise = [np.mean([tr[int(b * 100) + 10, 0] - tr[int(b * 100) - 10, 0] for b in beats])
            for tr in (expressive.neck_track(taps, n, rng) for _ in range(10))]
    assert np.degrees(np.mean(rise)) > 0.3, np.degrees(rise)
    silent = expressive.neck_track(None, 200, rng)
    assert (np.abs(silent) <= limits).all()


# ---- make_targets -------------------------------------------------------------------------
def utterance(rng):
    audio = synth_audio(SPEECH[-1].end, rng)
    return Utterance("test/0", audio, SPEECH, "test", "synthetic", "en", "")


def test_make_targets_composes_everything():
    rng = np.random.default_rng(4)
    utt = utterance(rng)
    t = utt.num_frames()
    for _ in range(4):
        tg = expressive.make_targets(utt, rng)
        assert tg.arkit.shape == (t, vocab.NUM_ARKIT) and tg.arkit.dtype == np.float32
        assert tg.arkit.min() >= 0 and tg.arkit.max() <= 1
        assert np.array_equal(tg.jaw, vocab.jaw_open_to_pose(tg.arkit[:, JAW]))
        assert tg.neck.shape == (t, 3) and tg.emotion.shape == (t, vocab.NUM_EMOTIONS)
        assert np.allclose(tg.emotion.sum(1), 1, atol=1e-5)
        assert tg.intensity.shape == (t,)
        assert (0 <= tg.intensity).all() and (tg.intensity <= 1).all()
        assert tg.phone_ids.shape == (t,) and tg.phone_ids.dtype == np.int16
    fixed = expressive.make_targets(utt, rng, emotion="angry")
    assert (fixed.emotion[:, vocab.emotion_index("angry")] == 1).all()
    assert np.ptp(fixed.intensity) == 0
    track = expressive.make_targets(utt, rng, emotion=("happy", np.linspace(0, 1, t)))
    assert np.allclose(track.intensity, np.linspace(0, 1, t))


def test_make_targets_is_deterministic_for_a_seed(head):
    utt = utterance(np.random.default_rng(0))
    a = expressive.make_targets(utt, np.random.default_rng(9))
    b = expressive.make_targets(utt, np.random.default_rng(9))
    c = expressive.make_targets(utt, np.random.default_rng(10))
    for f in ("arkit", "jaw", "neck", "emotion", "intensity", "phone_ids"):
        assert np.array_equal(getattr(a, f), getattr(b, f)), f
    assert not np.array_equal(a.arkit, c.arkit)
    frames = [centre_frame(s) for s in SPEECH if s.phone in phonemes.BILABIALS]
    gap = metrics.lip_gap(head, mesh(head, a.arkit[frames], a.arkit[frames, JAW]))
    assert gap.max() < 1e-3

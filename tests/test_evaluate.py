"""`facestream eval`: its cut-down head measures what the full head and the training loss
measure, its metrics behave on known cases, and the command runs end to end."""
import json

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="evaluation needs the train extra")
from facestream import vocab  # noqa: E402
from facestream.engine.metrics import lip_gap  # noqa: E402
from facestream.training import evaluate as E  # noqa: E402
from facestream.training.train import VertexLoss  # noqa: E402


def _tiny_checkpoint(corpus, tmp_path):
    from facestream.training.train import load_config, train
    tiny = ["steps=2", "batch_size=2", "window_s=1.0", "warmup_frames=5", "log_every=1",
            "model.channels=16", "model.gru_hidden=16", "model.n_mels=16", "model.conv_layers=2",
            "model.lookahead=1", "threads=1", f"corpus={corpus}", f"out={tmp_path / 'run'}"]
    return train(load_config(None, tiny), progress=False)


def _random_face(rng, t=6):
    arkit = (rng.random((t, vocab.NUM_ARKIT)) * 0.6).astype(np.float32)
    arkit[0] = 0.0
    jaw = np.zeros((t, 3), np.float32)
    jaw[:, 0] = arkit[:, vocab.ARKIT_INDEX["jawOpen"]] * vocab.JAW_OPEN_MAX_RAD
    return arkit, jaw


def test_measured_head_agrees_with_the_full_head_and_the_training_loss(head, rng):
    mh = E.MeasuredHead(head)
    vl = VertexLoss(head)
    arkit, jaw = _random_face(rng)
    v = mh.vertices(arkit, jaw)
    pose = np.zeros((len(arkit), 15), np.float32)
    pose[:, vocab.POSE_SLICES["jaw"]] = jaw
    for t in range(len(arkit)):
        full = head.forward(expression=arkit[t], pose=pose[t])
        assert np.abs(full[mh.idx] - v[t]).max() < 1e-5
        assert mh.lip_gap(v[t:t + 1])[0] == pytest.approx(lip_gap(head, full), abs=1e-6)
    vt = vl.vertices(torch.from_numpy(arkit)[None], torch.from_numpy(jaw)[None])[0].numpy()
    lips = np.asarray(head.regions["lips"])
    pos = {int(i): k for k, i in enumerate(mh.idx)}
    assert np.abs(vt[:, : len(lips)] - v[:, [pos[int(i)] for i in lips]]).max() < 1e-5
    gap_train = vl.lip_gap(torch.from_numpy(vt)[None])[0].numpy()
    assert np.allclose(gap_train, mh.lip_gap(v), atol=1e-6)


def test_metrics_on_known_cases(head, rng):
    from facestream.training.corpus.types import PhoneSeg
    mh = E.MeasuredHead(head)
    arkit, jaw = _random_face(rng, t=30)
    arkit[10:20, vocab.ARKIT_INDEX["jawOpen"]] = 0.8
    jaw[:, 0] = arkit[:, vocab.ARKIT_INDEX["jawOpen"]] * vocab.JAW_OPEN_MAX_RAD
    phones = [PhoneSeg(0.0, 0.01, "m"), PhoneSeg(0.01, 0.10, "sil"), PhoneSeg(0.10, 0.20, "aa"), PhoneSeg(0.2, 0.3, "sil")]
    seq = E.Sequence("u", "test", np.zeros(4800, np.float32), arkit, jaw,
                     np.eye(vocab.NUM_EMOTIONS, dtype=np.float32)[np.zeros(30, int)],
                     np.zeros(30, np.float32), phones)
    same = E.sequence_metrics(mh, seq, arkit, jaw)
    assert same["lve_sum"] == 0 and same["lip_max_sum"] == 0 and same["fdd_abs"] == 0
    assert same["closed"] == 1 and same["bilabials"] == 1  # frame 0 is the rest face
    assert same["opened"] == 1 and same["open_vowels"] == 1
    rest = E.sequence_metrics(mh, seq, np.zeros_like(arkit), np.zeros_like(jaw))
    assert rest["lve_sum"] > 0 and rest["opened"] == 0
    # LVE: per frame the max over lip vertices of the squared error, summed over frames
    vp = mh.vertices(np.zeros_like(arkit), np.zeros_like(jaw))
    vt = mh.vertices(arkit, jaw)
    ref = ((vp[:, mh.lips] - vt[:, mh.lips]) ** 2).sum(-1).max(1).sum()
    assert rest["lve_sum"] == pytest.approx(ref, rel=1e-6)


@pytest.mark.slow
def test_eval_command_on_the_tiny_corpus(tiny_corpus, tmp_path):
    from facestream.cli import main
    ckpt = _tiny_checkpoint(tiny_corpus, tmp_path)
    out = tmp_path / "eval"
    from facestream.training.corpus.store import Corpus
    voice = Corpus(tiny_corpus).records[0]["voice"]
    rc = main(["eval", "--corpus", str(tiny_corpus), "--splits", "train", "--model", str(ckpt),
               "--shipped", str(ckpt), "--voices", voice, "--limit", "3",
               "--json", str(out / "e.json"), "--markdown", str(out / "e.md"),
               "--plot", str(out / "e.png")])
    assert rc == 0
    res = json.loads((out / "e.json").read_text())
    assert set(res["splits"]) == {"train", f"{voice} (whole voice)"}  # a voice, whatever its split
    rows = res["splits"]["train"]
    assert {"neutral face", "energy heuristic", "rig targets", "shipped model (L=1)"} <= set(rows)
    assert len(rows) == 5 and rows["rig targets"]["LVE_1e-5m2"] == 0
    assert res["roles"]["neutral face"] == "baseline" and res["roles"]["shipped model (L=1)"] == "shipped"
    assert sorted(res["roles"].values()).count("sweep") == 1
    for m in rows.values():
        assert np.isfinite(m["LVE_1e-5m2"]) and m["frames"] > 0 and 0 <= m["closure_rate"] <= 1
    assert rows["neutral face"]["closure_rate"] == 1.0
    assert "LVE" in (out / "e.md").read_text() and (out / "e.png").stat().st_size > 1000


def test_a_sequence_two_splits_name_is_loaded_once(tiny_corpus):
    """"test" also holds "test-real-speakers": asking for both must not count a clip twice."""
    from facestream.training.evaluate import load_sequences
    once = load_sequences(str(tiny_corpus), splits=("train",), limit=4)
    twice = load_sequences(str(tiny_corpus), splits=("train", "train"), limit=4)
    assert len(once) > 0 and [s.uid for s in twice] == [s.uid for s in once]


def test_whole_voice_sequences_whatever_their_split(tiny_corpus):
    from facestream.training.corpus.store import Corpus
    voice = Corpus(str(tiny_corpus)).records[0]["voice"]
    seqs = E.load_voice_sequences(str(tiny_corpus), voice, limit=3)
    assert len(seqs) == 3 and all(s.split == voice for s in seqs)
    assert len({s.uid for s in seqs}) == 3
    with pytest.raises(ValueError, match="not in .*--real-sources"):
        E.load_voice_sequences(str(tiny_corpus), "no-such-voice")


def test_engine_path_follows_the_model_on_the_targets_grid(tiny_corpus):
    """The engine row (what a person sees: chunks, smoothing, 30 fps) is the same model's
    output, on the targets' 100 fps grid, neither shifted nor a different face."""
    from facestream.engine.stream import default_model_path
    seqs = E.load_sequences(str(tiny_corpus), splits=("train",), limit=3)
    eng, raw = E.EnginePredictor(), E.OnnxPredictor(str(default_model_path()))
    jaw = vocab.ARKIT_NAMES.index("jawOpen")
    for s in seqs:
        (a_e, j_e), (a_r, _) = eng(s), raw(s)
        assert a_e.shape == s.arkit.shape and j_e.shape == s.jaw.shape
        x, y = a_e[:, jaw], a_r[:, jaw]
        assert np.corrcoef(x, y)[0, 1] > 0.95
        lags = range(-5, 6)  # the best lag of the engine's jawOpen against the raw model's
        best = max(lags, key=lambda k: np.corrcoef(np.roll(x, k)[5:-5], y[5:-5])[0, 1])
        assert abs(best) <= 1


def test_gate_choice_keeps_quality_and_open_vowels():
    from facestream.training.calibrate import choose
    ref = {"gate": [0.3, 0.7], "LVE_1e-5m2": 2.0, "closure_rate": 0.3, "open_rate": 1.0}
    scores = [{"gate": [0.05, 0.15], "LVE_1e-5m2": 3.0, "closure_rate": 0.95, "open_rate": 0.9},
              {"gate": [0.1, 0.3], "LVE_1e-5m2": 2.2, "closure_rate": 0.8, "open_rate": 0.99},
              {"gate": [0.2, 0.4], "LVE_1e-5m2": 2.1, "closure_rate": 0.7, "open_rate": 1.0},
              {"gate": [0.1, 0.2], "LVE_1e-5m2": 2.25, "closure_rate": 0.9, "open_rate": 0.9}]
    assert choose(scores, ref, 1.15, 0.95)["gate"] == [0.1, 0.3]
    assert choose(scores, ref, 1.01, 0.95) is ref  # nothing qualifies: keep the trained gate
    assert choose(scores, ref, 1.15, 0.95, min_closure=0.75)["gate"] == [0.1, 0.3]  # lowest LVE...
    assert choose(scores, ref, 1.15, 0.95, min_closure=0.7)["gate"] == [0.2, 0.4]  # ...that reaches it
    assert choose(scores, ref, 1.15, 0.85, min_closure=0.9)["gate"] == [0.1, 0.2]
    scores[3]["false_closure_by_class"] = {"velar": 0.4, "silence": 0.9}
    scores[1]["false_closure_by_class"] = {"velar": 0.1, "silence": 0.9}
    assert choose(scores, ref, 1.15, 0.85, min_closure=0.8, max_false=0.15)["gate"] == [0.1, 0.3]


@pytest.mark.slow
def test_calibrate_command_writes_a_checkpoint_with_the_chosen_gate(tiny_corpus, tmp_path):
    from facestream.cli import main
    from facestream.training.checkpoint import load_checkpoint
    ckpt = _tiny_checkpoint(tiny_corpus, tmp_path)
    assert main(["calibrate", str(ckpt), "-o", str(tmp_path / "c.pt"), "--splits", "test",
                 "--corpus", str(tiny_corpus)]) == 2  # never on the reported test split
    out = tmp_path / "c.pt"
    assert main(["calibrate", str(ckpt), "-o", str(out), "--splits", "train", "--limit", "2",
                 "--corpus", str(tiny_corpus), "--json", str(tmp_path / "g.json")]) == 0
    model, blob = load_checkpoint(out)
    grid = json.loads((tmp_path / "g.json").read_text())
    assert [model.config.gate_lo, model.config.gate_hi] == grid["chosen"]
    assert blob["extra"]["calibration"]["gate"] == grid["chosen"]
    assert blob["train_config"]["steps"] == 2 and len(grid["scores"]) > 20
    assert model.config.open_gain == grid["open_gain"] == blob["extra"]["calibration"]["open_gain"]
    assert len(grid["gain_scores"]) > 10
    # the gain chosen for every group of --gain-splits at once (no test split allowed there)
    assert main(["calibrate", str(ckpt), "-o", str(out), "--splits", "train", "--limit", "2",
                 "--corpus", str(tiny_corpus), "--gain-splits", "test"]) == 2
    assert main(["calibrate", str(ckpt), "-o", str(out), "--splits", "train", "--limit", "2",
                 "--corpus", str(tiny_corpus), "--gain-splits", "train,val",
                 "--gain-tolerance", "0.1", "--json", str(tmp_path / "g.json")]) == 0
    model, blob = load_checkpoint(out)
    grid = json.loads((tmp_path / "g.json").read_text())
    groups = grid["gain_scores_by_group"]
    assert set(groups) >= {"train", "val"}
    from facestream.training.calibrate import choose_joint_gain
    assert model.config.open_gain == choose_joint_gain(groups, 0.1) == grid["open_gain"]
    assert blob["extra"]["calibration"]["gain_splits"] == "train,val"


def test_gain_choice_matches_the_targets_opening():
    from facestream.training.calibrate import choose_gain
    scores = [{"open_gain": g, "gap_p95_ratio": r, "LVE_1e-5m2": e}
              for g, r, e in ((1.0, 0.6, 1.0), (1.4, 0.92, 1.5), (1.6, 1.12, 2.0))]
    assert choose_gain(scores)["open_gain"] == 1.4  # none within 5%: the closest
    scores += [{"open_gain": 1.5, "gap_p95_ratio": 0.96, "LVE_1e-5m2": 1.7},
               {"open_gain": 1.55, "gap_p95_ratio": 1.01, "LVE_1e-5m2": 1.8}]
    assert choose_gain(scores)["open_gain"] == 1.5  # within 5%: the lowest LVE
    assert choose_gain(scores, tolerance=0.1)["open_gain"] == 1.4


def test_joint_gain_fits_every_group_or_the_worst_best():
    """One gain for real voices (the network opens less on them) and synthetic ones: the
    cheapest gain within tolerance in both; else the gain whose worst group is closest."""
    from facestream.training.calibrate import choose_joint_gain

    def group(ratios, lves):
        return [{"open_gain": g, "gap_p95_ratio": r, "LVE_1e-5m2": e}
                for g, r, e in zip((1.2, 1.3, 1.4), ratios, lves)]
    real = group((0.88, 0.95, 1.03), (2.3, 2.2, 2.25))
    synthetic = group((1.02, 1.09, 1.18), (1.5, 1.55, 1.62))
    assert choose_joint_gain({"real": real, "synthetic": synthetic}, 0.1) == 1.3
    assert choose_joint_gain({"real": real}, 0.1) == 1.3  # the lowest LVE within 10%
    assert choose_joint_gain({"synthetic": synthetic}, 0.1) == 1.2
    # nothing fits both within 2%: the smallest worst-group distance (1.3: 0.95 and 1.09)
    assert choose_joint_gain({"real": real, "synthetic": synthetic}, 0.02) == 1.3
    with pytest.raises(ValueError, match="same gains"):
        choose_joint_gain({"real": real, "synthetic": synthetic[:2]}, 0.1)


def test_phone_classes_and_lead():
    assert E.phone_class("k") == "velar" and E.phone_class("dh") == "dental"
    assert E.phone_class("n") == "alveolar" and E.phone_class("f") == "labiodental"
    assert E.phone_class("ax") == "reduced vowel" and E.phone_class("aa") == "open vowel"
    assert E.phone_class("sil") == "silence" and E.phone_class("w") == "other"
    # closure is scored where real lips close: /p b m/, not Spanish [β] (docs/rig.md)
    assert E.phone_class("b") == E.phone_class("m") == "bilabial"
    assert E.phone_class("bh") == "other"
    t = np.sin(np.linspace(0, 20, 300)) + np.linspace(0, 1, 300)
    early = np.roll(t, -3)  # the prediction runs 3 frames ahead of the target
    corr = E.lead_correlation(early[:-10], t[:-10])
    assert int(np.nanargmax(corr)) - E.MAX_LEAD_FRAMES == 3


def test_realism_metrics_count_false_closures_by_class(head):
    from phone_helpers import seq as phones
    mh = E.MeasuredHead(head)
    ph = phones(("sil", 200), ("aa", 150), ("k", 80), ("aa", 150), ("n", 80), ("ax", 100),
                ("sil", 200))
    t = int(np.ceil(ph[-1].end * 100))
    arkit = np.zeros((t, vocab.NUM_ARKIT), np.float32)
    arkit[20:55, vocab.ARKIT_INDEX["jawOpen"]] = 0.4  # open through the first /aa k aa/ only
    jaw = vocab.jaw_open_to_pose(arkit[:, vocab.ARKIT_INDEX["jawOpen"]])
    s = E.Sequence("u", "test-real", np.zeros(t * vocab.HOP_SAMPLES, np.float32), arkit, jaw,
                   np.eye(vocab.NUM_EMOTIONS, dtype=np.float32)[np.zeros(t, int)],
                   np.zeros(t, np.float32), ph, "speaker-a")
    shut = np.zeros_like(arkit)
    row = E.sequence_metrics(mh, s, shut, vocab.jaw_open_to_pose(shut[:, 0]))
    agg = E.aggregate([row])
    assert agg["false_closure_by_class"]["velar"] == 1.0  # the shut face shuts at /k/
    assert agg["false_closure_by_class"]["alveolar"] == 1.0
    assert agg["target_gap_by_class_mm"]["velar"] > 5 and agg["gap_by_class_mm"]["velar"] < 1
    assert agg["gap_p95_ratio"] < 0.1
    assert agg["by_speaker"]["speaker-a"]["max_consonant_false_closure"] == 1.0
    same = E.aggregate([E.sequence_metrics(mh, s, arkit, jaw)])
    assert same["false_closure_by_class"]["velar"] == 0.0 and same["gap_p95_ratio"] == 1.0
    assert same["lead_ms"] == 0


def test_closure_anywhere_inside_the_bilabial_tells_timing_from_missing(head):
    """A closure that comes 30 ms late misses the /m/'s centre but lies inside the /m/."""
    from phone_helpers import seq as phones
    mh = E.MeasuredHead(head)
    ph = phones(("sil", 200), ("aa", 150), ("m", 100), ("aa", 150), ("sil", 200))
    t = int(np.ceil(ph[-1].end * 100))
    ji = vocab.ARKIT_INDEX["jawOpen"]
    arkit = np.zeros((t, vocab.NUM_ARKIT), np.float32)
    arkit[20:60, ji] = 0.4  # open through /aa m aa/ ...
    m0 = int(ph[2].start * 100)
    late = arkit.copy()
    late[m0 + 8:m0 + 10, ji] = 0.0  # ... shut only in the /m/'s last 20 ms
    late[m0 + 8:m0 + 10, vocab.ARKIT_INDEX["mouthClose"]] = 0.0
    s = E.Sequence("u", "test-real", np.zeros(t * vocab.HOP_SAMPLES, np.float32), arkit,
                   vocab.jaw_open_to_pose(arkit[:, ji]),
                   np.eye(vocab.NUM_EMOTIONS, dtype=np.float32)[np.zeros(t, int)],
                   np.zeros(t, np.float32), ph, "speaker-a")
    agg = E.aggregate([E.sequence_metrics(mh, s, late, vocab.jaw_open_to_pose(late[:, ji]))])
    assert agg["closure_rate"] == 0.0 and agg["closure_any_rate"] == 1.0
    assert agg["bilabial_min_gap_mm"] < E.CLOSED_MM
    never = E.aggregate([E.sequence_metrics(mh, s, arkit, vocab.jaw_open_to_pose(arkit[:, ji]))])
    assert never["closure_any_rate"] == 0.0 and never["bilabial_min_gap_mm"] > 3

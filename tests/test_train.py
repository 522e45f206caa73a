"""Training on the tiny corpus: runs, logs, checkpoints carry their config, resume, DDP."""
import csv
import os
import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="training needs the train extra")
from facestream.training.checkpoint import load_checkpoint  # noqa: E402
from facestream.training.train import load_config, train  # noqa: E402

TINY = ["steps=4", "batch_size=2", "window_s=1.0", "warmup_frames=5", "log_every=2",
        "ckpt_every=2", "model.channels=32", "model.gru_hidden=32", "model.n_mels=24",
        "model.conv_layers=2", "model.lookahead=1", "threads=1"]


def test_config_file_and_overrides(tmp_path):
    f = tmp_path / "c.json"
    f.write_text('{"_comment": "ignored", "steps": 7, "model": {"lookahead": 4}}')
    cfg = load_config(str(f), ["model.gru_hidden=48", "augment=false"])
    assert cfg.steps == 7 and cfg.model.lookahead == 4 and cfg.model.gru_hidden == 48
    assert cfg.augment is False
    with pytest.raises(ValueError, match="unknown config key"):
        load_config(None, ["nope=1"])
    with pytest.raises(ValueError, match="key=value"):
        load_config(None, ["steps"])
    # augment_config: AugmentConfig fields, merged from the file and --set, checked by name
    f.write_text('{"augment_config": {"p_gsm": 0.2, "p_eq": 0.1}}')
    cfg = load_config(str(f), ["augment_config.p_eq=0.5"])
    assert cfg.augment_config == {"p_gsm": 0.2, "p_eq": 0.5}
    cfg.validate()
    with pytest.raises(ValueError, match="AugmentConfig"):
        load_config(None, ["augment_config.p_gsmm=0.2"]).validate()


def test_train_writes_log_checkpoint_and_resumes(tiny_corpus, tmp_path):
    out = tmp_path / "run"
    cfg = load_config(None, TINY + [f"corpus={tiny_corpus}", f"out={out}"])
    path = train(cfg, progress=False)
    model, blob = load_checkpoint(path)
    assert blob["step"] == 4 and blob["model_config"]["lookahead"] == 1
    assert blob["head"] == "facestream-default-head" and blob["train_config"]["steps"] == 4
    rows = list(csv.DictReader(open(out / "log.csv")))
    assert [int(r["step"]) for r in rows] == [2, 4]
    assert all(float(r["total"]) > 0 for r in rows)
    assert (out / "loss.png").exists()
    # resume: a longer run continues from last.pt instead of starting over
    cfg2 = load_config(None, TINY + [f"corpus={tiny_corpus}", f"out={out}", "steps=6"])
    _, blob2 = load_checkpoint(train(cfg2, progress=False))
    assert blob2["step"] == 6
    assert [int(r["step"]) for r in csv.DictReader(open(out / "log.csv"))] == [2, 4, 6]
    # init_from: a fresh run starts from another run's weights (fine-tuning), at step 0
    out3 = tmp_path / "ft"
    cfg3 = load_config(None, TINY + [f"corpus={tiny_corpus}", f"out={out3}", "steps=1",
                                     f"init_from={out / 'last.pt'}", "lr=0"])
    ft, blob3 = load_checkpoint(train(cfg3, progress=False))
    assert blob3["step"] == 1
    ref, _ = load_checkpoint(out / "last.pt")
    assert all(torch.allclose(a, b) for a, b in zip(ref.state_dict().values(), ft.state_dict().values()))


def test_bad_checkpoints_are_refused(tmp_path):
    bad = tmp_path / "x.pt"
    bad.write_bytes(b"junk")
    with pytest.raises(ValueError, match="not a readable facestream checkpoint"):
        load_checkpoint(bad)
    with pytest.raises(FileNotFoundError):
        load_checkpoint(tmp_path / "missing.pt")


@pytest.mark.slow
def test_ddp_two_cpu_processes(tiny_corpus, tmp_path):
    """torchrun with two gloo processes trains and writes one checkpoint."""
    out = tmp_path / "ddp"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2",
           "--master_port=29533", "-m", "facestream.training.train",
           *[a for s in TINY + [f"corpus={tiny_corpus}", f"out={out}", "steps=2"] for a in ("--set", s)]]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert r.returncode == 0, r.stderr[-2000:]
    _, blob = load_checkpoint(out / "model.pt")
    assert blob["step"] == 2


def test_bilabial_labels():
    from facestream.training.phonemes import PHONE_INDEX
    from facestream.training.train import bilabial_labels
    ids = np.array([PHONE_INDEX[p] for p in ("sil", "m", "aa", "p", "b", "f", "sil")])
    assert bilabial_labels(ids).tolist() == [-1, 1, 0, 1, 1, 0, -1]
    with pytest.raises(ValueError, match="closure_label"):
        load_config(None, ["closure_label=nope"])


def test_labiodental_extra_weights_only_the_fv_frames_of_the_closure_loss():
    """loss.labiodental_extra adds BCE weight at /f v/ frames (the classifier's hard negatives)
    and nowhere else; 0 (the default) leaves the loss as it was."""
    import torch
    from dataclasses import replace
    from facestream.engine.head import load_head
    from facestream.training.phonemes import PHONE_INDEX
    from facestream.training.train import (TrainConfig, VertexLoss, bilabial_labels, compute_losses,
                                           labiodental_labels)
    ids = np.array([PHONE_INDEX[p] for p in ("sil", "f", "aa", "m", "v", "aa")])
    assert labiodental_labels(ids).tolist() == [0, 1, 0, 0, 1, 0]
    n = len(ids)
    zeros = {"arkit": torch.zeros(1, n, 52), "jaw": torch.zeros(1, n, 3), "neck": torch.zeros(1, n, 3)}
    pred = dict(zeros, closure=torch.full((1, n), 0.3))
    tgt = dict(zeros, bilabial=torch.from_numpy(bilabial_labels(ids))[None],
               labiodental=torch.from_numpy(labiodental_labels(ids))[None])
    mask = torch.ones(1, n)
    vl = VertexLoss(load_head(), n_face=10)
    cfg = TrainConfig()
    bce = lambda c: compute_losses(pred, tgt, mask, vl, c)[1]["closure_bce"]  # noqa: E731
    base = bce(cfg)
    assert "peak_mm" not in compute_losses(pred, tgt, mask, vl, cfg)[1]  # off by default
    more = bce(replace(cfg, loss=replace(cfg.loss, labiodental_extra=2.0)))
    # 5 speech frames (silence is left out); 2 of them /f v/ with p = 0.3 of a closure
    assert more - base == pytest.approx(2.0 * 2 * -np.log(0.7) / 5, rel=1e-5)
    tgt.pop("labiodental")  # batches without the labels (old callers) train as before
    assert bce(replace(cfg, loss=replace(cfg.loss, labiodental_extra=2.0))) == pytest.approx(base)


def test_peak_loss_charges_a_damped_mouth_its_missing_opening():
    """peak_loss: |mean of the widest share of a window's lip gaps, predicted - target| in mm;
    timing does not matter, amplitude does; masked frames are left out."""
    import torch
    from facestream.training.train import peak_loss
    g = torch.zeros(2, 100)
    g[:, 10:20] = torch.linspace(0.002, 0.011, 10)  # m: the window's open vowel, 2..11 mm
    mask = torch.ones(2, 100)
    assert peak_loss(g, g, mask, 0.1).item() == 0.0
    assert peak_loss(g.roll(30, 1), g, mask, 0.1).item() == 0.0  # late or early: no charge
    assert peak_loss(0.6 * g, g, mask, 0.1).item() == pytest.approx(0.4 * 6.5, rel=1e-5)
    wide = g.clone()
    wide[:, 50] = 0.05  # a 50 mm opening where the loss must not look
    mask[:, 50] = 0
    assert peak_loss(wide, g, mask, 0.1).item() == pytest.approx(0.0, abs=1e-6)


def test_the_peak_term_pushes_only_what_opens_a_mouth_in_speech():
    """VertexLoss.mouth_gap is the lip gap of the full vertices; with openers_only its
    gradient reaches the jaw and PEAK_OPENERS, not mouthFunnel (which opens lips too)."""
    import torch
    from facestream import vocab
    from facestream.engine.head import load_head
    from facestream.training.train import VertexLoss
    vl = VertexLoss(load_head(), n_face=10)
    torch.manual_seed(0)
    ark = (torch.rand(2, 5, 52) * 0.3).requires_grad_()
    jaw = torch.zeros(2, 5, 3)
    jaw[..., 0] = 0.1
    jaw.requires_grad_()
    full = vl.lip_gap(vl.vertices(ark, jaw))
    assert torch.allclose(vl.mouth_gap(ark, jaw, openers_only=False), full, atol=1e-7)
    gap = vl.mouth_gap(ark, jaw, openers_only=True)
    assert torch.allclose(gap, full, atol=1e-7)
    gap.sum().backward()
    g = ark.grad.abs().sum((0, 1))
    assert g[vocab.ARKIT_INDEX["jawOpen"]] > 0 and g[vocab.ARKIT_INDEX["mouthLowerDownLeft"]] > 0
    assert g[vocab.ARKIT_INDEX["mouthFunnel"]] == 0 and g[vocab.ARKIT_INDEX["mouthClose"]] == 0
    assert jaw.grad.abs().sum() > 0
    ark.grad = None
    vl.mouth_gap(ark, jaw, openers_only=False).sum().backward()
    assert ark.grad[..., vocab.ARKIT_INDEX["mouthFunnel"]].abs().sum() > 0


def test_real_weight_draws_recorded_speech_more_often():
    """real_weight scales the chance of a recorded clip per second of audio; synthetic stays 1."""
    from facestream.training.train import TrainConfig, WindowSampler
    clip = {k: np.zeros((400, w), np.float32) for k, w in (("arkit", 52), ("jaw", 3), ("neck", 3),
                                                           ("emotion", 8))}
    clips = [dict(clip, source="mbrola"), dict(clip, source="asterisk"), dict(clip, source="flite")]
    for w, want in ((1.0, [1 / 3] * 3), (4.0, [1 / 6, 4 / 6, 1 / 6])):
        np.testing.assert_allclose(WindowSampler(clips, TrainConfig(real_weight=w)).p, want)
    with pytest.raises(ValueError, match="real_weight"):
        TrainConfig(real_weight=0).validate()


def test_resume_with_a_changed_config_is_refused_naming_the_fields(tiny_corpus, tmp_path):
    out = tmp_path / "run"
    base = TINY + [f"corpus={tiny_corpus}", f"out={out}", "steps=2", "val_every=0"]
    train(load_config(None, base), progress=False)
    for change, named in ((["lr=0.001"], "lr: 0.002 -> 0.001"),
                          (["model.gru_hidden=16", "loss.lip=1"], "loss.lip: 2.0 -> 1.0; model.gru_hidden")):
        with pytest.raises(ValueError, match=named):
            train(load_config(None, base + change), progress=False)
    # what legitimately changes on resume: length, reporting, threads, the run's folder
    moved = tmp_path / "moved"
    out.rename(moved)
    cfg = load_config(None, base + [f"out={moved}", "steps=3", "log_every=1", "ckpt_every=1",
                                    "threads=2", "time_limit_min=5"])
    _, blob = load_checkpoint(train(cfg, progress=False))
    assert blob["step"] == 3


def test_checkpoints_from_before_a_field_existed_resume_with_its_default():
    from dataclasses import asdict

    from facestream.training.train import TrainConfig, config_differences
    saved = asdict(TrainConfig())
    for old_field in ("val_every", "val_windows", "vtlp", "real_weight"):
        saved.pop(old_field)
    saved["loss"].pop("jaw_param")
    assert config_differences(saved, TrainConfig()) == {}
    assert config_differences(saved, TrainConfig(vtlp=0.1)) == {"vtlp": (0.0, 0.1)}


def test_shipped_configs_still_load():
    from pathlib import Path
    for path in sorted((Path(__file__).parents[1] / "configs").glob("*.json")):
        load_config(str(path))


def test_validation_loss_is_logged_and_best_pt_has_the_lowest(tiny_corpus, tmp_path):
    from facestream.training.train import load_clips
    out = tmp_path / "run"
    val = load_clips(str(tiny_corpus), "val") or load_clips(str(tiny_corpus), "test")
    assert val, "the tiny corpus has no held-out clips"
    cfg = load_config(None, TINY + [f"corpus={tiny_corpus}", f"out={out}", "steps=4",
                                    "val_every=1", "val_windows=3", "lr=0.01"])
    train(cfg, progress=False, val_clips=val)
    rows = list(csv.DictReader(open(out / "val.csv")))
    assert [int(r["step"]) for r in rows] == [1, 2, 3, 4]
    losses = [float(r["total"]) for r in rows]
    assert all(np.isfinite(losses)) and len(set(losses)) > 1  # the model changes between passes
    _, best = load_checkpoint(out / "best.pt")
    assert best["step"] == 1 + int(np.argmin(losses))
    assert best["extra"]["val_loss"] == pytest.approx(min(losses), abs=1e-5)
    _, last = load_checkpoint(out / "last.pt")
    assert last["extra"]["best_val"] == pytest.approx(min(losses), abs=1e-5)


def test_delay_is_one_shift_for_training_and_evaluation():
    from facestream.training.face import delay
    x = np.arange(2 * 5, dtype=np.float32).reshape(2, 5)
    assert delay(x, 2).tolist() == [[0, 0, 0, 1, 2], [5, 5, 5, 6, 7]]
    assert delay(x, 2, 7)[0].tolist() == [0, 0, 0, 1, 2, 3, 4]  # evaluation: T + L steps
    assert torch.equal(delay(torch.from_numpy(x), 2), torch.from_numpy(delay(x, 2)))
    assert delay(x, 0) is x


def test_running_norm_and_frequency_masks_train_and_keep_their_prior(tiny_corpus, tmp_path):
    """A model with the running normalisation starts from the training speech's mean (saved in
    the checkpoint, so an export starts streams from it); frequency masks train too."""
    from facestream.training.train import band_masks
    out = tmp_path / "cmn"
    cfg = load_config(None, TINY + [f"corpus={tiny_corpus}", f"out={out}", "steps=2",
                                    "model.cmn_s=1.0", "freq_masks=2", "freq_mask_width=4"])
    model, blob = load_checkpoint(train(cfg, progress=False))
    assert blob["model_config"]["cmn_s"] == 1.0 and model.state_names()[1] == "cmn"
    prior = model.norm.prior
    assert prior.shape == (24,) and prior.abs().sum() > 0 and torch.isfinite(prior).all()
    m = band_masks(np.random.default_rng(0), 64, 24, 2, 4)
    assert m.shape == (64, 24) and set(np.unique(m)) <= {0.0, 1.0}
    assert ((1 - m).sum(1) <= 8).all() and (1 - m).sum() > 0
    with pytest.raises(ValueError, match="freq_mask_width"):
        load_config(None, ["freq_mask_width=40"]).validate()

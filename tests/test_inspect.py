import numpy as np
import pytest

from facestream import vocab
from facestream.training.corpus import PhoneSeg, Targets, Utterance
from facestream.training.corpus.inspect import format_stats, main, plot_sample
from facestream.training.corpus.store import Corpus, ShardWriter, init_corpus
from facestream.training.phonemes import PHONE_INDEX

SR = vocab.SAMPLE_RATE


def sample(uid="demo/0", voice="mb-us1", seconds=1.6):
    """A syllable-like signal with phones and smooth targets that follow them."""
    n = int(seconds * SR) + 37
    t = np.arange(n) / SR
    env = np.clip(np.sin(2 * np.pi * 2.5 * t), 0, None)
    audio = (0.5 * env * np.sin(2 * np.pi * 180 * t) * np.sin(2 * np.pi * 3 * t)).astype(np.float32)
    syms = ["sil", "m", "aa", "p", "uw", "s", "iy", "sil"]
    bounds = np.linspace(0, n / SR, len(syms) + 1)
    phones = [PhoneSeg(float(a), float(b), p) for a, b, p in zip(bounds[:-1], bounds[1:], syms)]
    utt = Utterance(uid, audio, phones, "mbrola", voice, "en", "map you see")
    T = utt.num_frames()
    tf = (np.arange(T) + 0.5) / vocab.INTERNAL_FPS
    arkit = np.zeros((T, 52), np.float32)
    arkit[:, vocab.ARKIT_INDEX["jawOpen"]] = 0.5 * (1 - np.cos(2 * np.pi * 2.5 * tf)) / 2 + 0.1
    arkit[:, vocab.ARKIT_INDEX["mouthPucker"]] = np.exp(-((tf - 0.9) / 0.1) ** 2)
    arkit[:, vocab.ARKIT_INDEX["eyeBlinkLeft"]] = np.exp(-((tf - 0.5) / 0.05) ** 2)
    emo = np.zeros((T, 7), np.float32)
    w = np.clip(tf / tf[-1], 0, 1)
    emo[:, 0], emo[:, 1] = 1 - w, w
    phone_ids = np.array([PHONE_INDEX[syms[min(int(x / (n / SR) * len(syms)), len(syms) - 1)]]
                          for x in tf], np.int16)
    tg = Targets(arkit=arkit, jaw=vocab.jaw_open_to_pose(arkit[:, vocab.ARKIT_INDEX["jawOpen"]]),
                 neck=np.zeros((T, 3), np.float32), emotion=emo,
                 intensity=(0.3 + 0.5 * w).astype(np.float32), phone_ids=phone_ids)
    return utt, tg


def test_plot_sample_writes_a_nontrivial_png(tmp_path):
    pytest.importorskip("matplotlib", reason="plot_sample needs matplotlib (train extra)")
    from PIL import Image
    utt, tg = sample()
    out = plot_sample(utt, tg, tmp_path / "sub" / "s.png")
    assert out.exists() and out.stat().st_size > 20_000
    img = np.asarray(Image.open(out).convert("RGB"), dtype=np.float32)
    assert img.shape[0] >= 1000 and img.shape[1] >= 800
    assert img.std() > 20  # not a blank canvas
    assert len(np.unique(img.reshape(-1, 3)[::97], axis=0)) > 50  # colours: spectrogram, areas


def test_format_stats_and_cli(tmp_path, capsys):
    init_corpus(tmp_path, {}, 0)
    with ShardWriter(tmp_path, "j") as w:
        w.add(*sample("a/0"), "train")
        w.add(*sample("a/1", voice="flite-rms"), "test")
    text = format_stats(Corpus(tmp_path))
    for needle in ("2 utterances", "hours by voice", "flite-rms", "mb-us1", "phone coverage",
                   "never seen", "rarest", "emotion balance", "happy", "train", "test"):
        assert needle in text, needle
    assert main([str(tmp_path), "--split", "train"]) == 0
    assert "1 utterances" in capsys.readouterr().out

"""The phone model: its config (saved in the checkpoint), the log-mel frontend and network
(torch), and `PhoneModel`, which loads, saves and runs it.

Shapes: S samples at vocab.SAMPLE_RATE, T frames at vocab.INTERNAL_FPS, P inventory phones.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from .... import audio as faudio
from .... import vocab
from ...phonemes import INVENTORY, PHONE_INDEX

DEFAULT_WEIGHTS = Path(__file__).resolve().parents[3] / "assets" / "ctc_aligner.pt"
CHECKPOINT_VERSION = 1


@dataclass(frozen=True)
class AlignerConfig:
    """The phone model's dimensions and frontend; saved inside the checkpoint."""

    sample_rate: int = vocab.SAMPLE_RATE
    hop: int = vocab.HOP_SAMPLES  # samples per frame (10 ms)
    win: int = faudio.WIN_SAMPLES  # analysis window, samples, centred on the frame's centre
    n_fft: int = faudio.N_FFT
    n_mels: int = 64
    fmin: float = 60.0  # Hz
    fmax: float = 7600.0  # Hz
    channels: int = 128  # conv width
    kernel: int = 5  # conv kernel, frames
    conv_layers: int = 4
    hidden: int = 96  # GRU units per direction
    gru_layers: int = 1
    dropout: float = 0.1
    phones: tuple[str, ...] = tuple(p.symbol for p in INVENTORY)  # output order (P)
    version: int = CHECKPOINT_VERSION

    def __post_init__(self):
        if self.sample_rate % self.hop:
            raise ValueError("AlignerConfig.hop must divide sample_rate")
        if not 0 < self.fmin < self.fmax <= self.sample_rate / 2:
            raise ValueError("AlignerConfig: need 0 < fmin < fmax <= sample_rate / 2")
        unknown = [p for p in self.phones if p not in PHONE_INDEX]
        if unknown:
            raise ValueError(f"AlignerConfig.phones not in the inventory: {unknown}")


# ---- frontend and model (torch) ------------------------------------------------------------

def _torch():
    try:
        import torch
    except ImportError:
        raise ImportError("the phone aligner needs torch: pip install -e '.[train]'") from None
    return torch


def mel_filterbank(cfg: AlignerConfig) -> np.ndarray:
    """(n_mels, n_fft // 2 + 1) triangular HTK-mel filters, each summing to 1 (the shipped
    weights were trained on exactly these numbers)."""
    return faudio.mel_filterbank(cfg.n_mels, cfg.n_fft, cfg.sample_rate, cfg.fmin, cfg.fmax,
                                 norm="sum")


def num_frames(num_samples: int, hop: int = vocab.HOP_SAMPLES) -> int:
    """T frames covering S samples (the last one may be partial), as Utterance.num_frames."""
    return -(-num_samples // hop)


def _build_model(cfg: AlignerConfig):
    torch = _torch()
    nn = torch.nn

    class PhoneNet(nn.Module):
        """audio B x S -> logits B x T x P; frame t's window is centred on sample t*hop+hop/2."""

        def __init__(self, c: AlignerConfig):
            super().__init__()
            self.cfg = c
            # torch's float32 window, not audio.hann_window (float64, rounded once): the two
            # differ in the last bit and the shipped weights were trained with this one
            self.register_buffer("fb", torch.from_numpy(mel_filterbank(c)), persistent=False)
            self.register_buffer("window", torch.hann_window(c.win), persistent=False)
            layers, cin = [], c.n_mels
            for _ in range(c.conv_layers):
                layers += [nn.Conv1d(cin, c.channels, c.kernel, padding=c.kernel // 2),
                           nn.BatchNorm1d(c.channels), nn.ReLU(), nn.Dropout(c.dropout)]
                cin = c.channels
            self.conv = nn.Sequential(*layers)
            self.gru = nn.GRU(c.channels, c.hidden, c.gru_layers, batch_first=True,
                              bidirectional=True, dropout=c.dropout if c.gru_layers > 1 else 0)
            self.out = nn.Linear(2 * c.hidden, len(c.phones))

        def features(self, audio):
            c = self.cfg
            S = audio.shape[1]
            T = num_frames(S, c.hop)
            left = c.n_fft // 2 - c.hop // 2  # window centre of frame t at t*hop + hop/2
            right = (T - 1) * c.hop + c.n_fft - left - S
            x = torch.nn.functional.pad(audio, (left, max(right, 0)))
            spec = torch.stft(x, c.n_fft, c.hop, c.win, self.window, center=False,
                              return_complex=True)[..., :T]  # B x F x T
            mel = torch.matmul(self.fb, spec.abs() ** 2)  # B x n_mels x T
            logmel = torch.log(mel + 1e-8)
            # per-utterance mean/variance per band: removes the channel (mic, telephone EQ)
            mu = logmel.mean(-1, keepdim=True)
            sd = logmel.std(-1, keepdim=True).clamp_min(0.5)
            return (logmel - mu) / sd

        def forward(self, audio):
            h = self.conv(self.features(audio))  # B x C x T
            h, _ = self.gru(h.transpose(1, 2))  # B x T x 2H
            return self.out(h)  # B x T x P

    return PhoneNet(cfg)


class PhoneModel:
    """A trained phone model with its config and the phone prior used to turn posteriors into
    alignment scores. Thread-safe for inference (no state between calls)."""

    def __init__(self, net, cfg: AlignerConfig, log_prior: np.ndarray, meta: dict | None = None):
        self.net, self.cfg, self.meta = net.eval(), cfg, meta or {}
        self.log_prior = np.asarray(log_prior, dtype=np.float32)  # P

    @classmethod
    def load(cls, path: str | Path = DEFAULT_WEIGHTS) -> "PhoneModel":
        torch = _torch()
        path = Path(path)
        if not path.exists():
            raise FileNotFoundError(f"no aligner weights at {path}: train them with "
                                    "`python -m facestream.training.corpus.ctc_align train`")
        ck = torch.load(path, map_location="cpu", weights_only=False)
        if ck.get("kind") != "facestream-phone-aligner" or ck.get("version") != CHECKPOINT_VERSION:
            raise ValueError(f"{path} is not a version-{CHECKPOINT_VERSION} facestream phone "
                             f"aligner checkpoint (kind={ck.get('kind')}, version={ck.get('version')})")
        cfg = AlignerConfig(**{**ck["config"], "phones": tuple(ck["config"]["phones"])})
        net = _build_model(cfg)
        net.load_state_dict({k: v.float() for k, v in ck["state_dict"].items()})
        return cls(net, cfg, np.asarray(ck["log_prior"]), ck.get("meta"))

    def save(self, path: str | Path, meta: dict | None = None) -> None:
        torch = _torch()
        state = {k: (v.half() if v.is_floating_point() else v)
                 for k, v in self.net.state_dict().items()}  # float16: half the file
        torch.save({"kind": "facestream-phone-aligner", "version": CHECKPOINT_VERSION,
                    "config": asdict(self.cfg), "state_dict": state,
                    "log_prior": self.log_prior.tolist(), "meta": meta or self.meta}, path)

    def log_posteriors(self, audio: np.ndarray) -> np.ndarray:
        """audio S (see `check_audio`) -> T x P log posteriors, in cfg.phones order."""
        torch = _torch()
        audio = check_audio(audio)
        with torch.inference_mode():
            logits = self.net(torch.from_numpy(audio)[None])[0]
            return torch.log_softmax(logits.float(), -1).numpy()


def check_audio(audio) -> np.ndarray:
    """int16 / float PCM at 16 kHz, (S,) or (S, C) -> S float32 mono, at least 30 ms long."""
    a = faudio.to_mono_float32(audio, "audio to align")
    if a.size < 3 * vocab.HOP_SAMPLES:
        raise ValueError(f"audio of {a.size} samples is too short to align: need at least 30 ms")
    return np.ascontiguousarray(a)

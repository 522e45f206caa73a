"""The streaming speech-to-face network: raw 16 kHz PCM in, per-frame face parameters out.

Causal throughout, with every piece of memory an explicit state tensor in and out, so the
exported model (ONNX, TorchScript) runs chunk by chunk and gives the frames it would give
on the whole clip. Shapes: B streams, N frames in this chunk (N * HOP samples of audio),
C channels, H GRU units, E = 7 emotions, K = 52 ARKit weights.

    audio   B x (N*HOP)          new samples of this chunk
    cond    B x N x (E + 1)      per frame: emotion weights * intensity, then intensity
    ctx     B x CONTEXT          the previous 240 samples (frontend window overlap)
    cmn     B x M                the running mean of the log-mels minus its prior (only when
                                 ModelConfig.cmn_s > 0: `RunningNorm`)
    conv_i  B x C x (k-1)        each causal conv layer's left context
    gru     layers x B x H       the GRU state
 -> out     B x N x OUT_DIM      frame t of the output belongs to input frame t - lookahead

Look-ahead: the network is causal in its input; it is trained so that the output it gives
after seeing input frame t describes frame t - L. L = 0 is allowed.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn

from .. import audio as faudio
from .. import vocab
# Output layout per frame (OUT_DIM numbers): the model contract's (facestream/contract.py):
# K ARKit logits, jaw pose, neck pose, and a "lips closed" logit that gates the lip aperture
# (see `decode_outputs`); the raw network emits them before decoding, the export after.
from ..contract import COND_DIM, OUT_ARKIT, OUT_CLOSURE, OUT_DIM, OUT_JAW, OUT_NECK  # noqa: F401
from ..contract import latency_ms
from . import lip_contact as lc

JAW_RANGE = 0.6  # rad: tanh-bounded jaw rotation
NECK_RANGE = 0.35  # rad: tanh-bounded neck rotation
MODEL_VERSION = 1


@dataclass(frozen=True)
class ModelConfig:
    n_mels: int = 64  # mel bands of the frontend
    channels: int = 128  # C: width of the causal conv stack
    conv_layers: int = 3  # causal conv layers (kernel conv_kernel, residual)
    conv_kernel: int = 3  # frames each conv sees (k): k - 1 frames of state
    gru_hidden: int = 192  # H
    gru_layers: int = 1
    lookahead: int = 3  # L: output frames the model waits for (10 ms each)
    cond_dim: int = 32  # width of the emotion/intensity embedding
    offline: bool = False  # a bidirectional GRU (H/2 each way): the non-causal upper bound
    # The lips-closed probability p becomes the rig's closure gate clamp((p - lo) / (hi - lo)):
    # a calibrated classifier's p = 0.75 then shuts the lips fully (0 and 1: p itself).
    gate_lo: float = 0.0
    gate_hi: float = 1.0
    # Opening calibration: the lip-opening weights (OPENING_SHAPES) are multiplied by this
    # gain after the sigmoid, chosen after training on held-out speakers so the model's lip
    # opening has its targets' spread (a model trained on squared error regresses to the
    # mean under uncertain input and opens too little: `facestream calibrate`).
    open_gain: float = 1.0
    # Speaker/channel normalisation: each log-mel frame minus a causal running mean of the
    # speech frames, time constant cmn_s seconds (`RunningNorm`); 0: off (absolute log-mels).
    cmn_s: float = 0.0

    def validate(self) -> None:
        for name in ("n_mels", "channels", "conv_layers", "conv_kernel", "gru_hidden",
                     "gru_layers", "cond_dim"):
            if getattr(self, name) < 1:
                raise ValueError(f"ModelConfig.{name} must be >= 1, got {getattr(self, name)}")
        if not 0.0 <= self.gate_lo < self.gate_hi <= 1.0:
            raise ValueError(f"ModelConfig needs 0 <= gate_lo < gate_hi <= 1, got {self.gate_lo}, {self.gate_hi}")
        if not 0.5 <= self.open_gain <= 3.0:
            raise ValueError(f"ModelConfig.open_gain must be in [0.5, 3], got {self.open_gain}")
        if self.offline and self.gru_hidden % 2:
            raise ValueError("an offline model splits gru_hidden over two directions: make it even")
        if self.lookahead < 0:
            raise ValueError(f"ModelConfig.lookahead must be >= 0 frames, got {self.lookahead}")
        if self.cmn_s and not 0.1 <= self.cmn_s <= 60.0:
            raise ValueError(f"ModelConfig.cmn_s must be 0 (off) or 0.1-60 s, got {self.cmn_s}")

    @property
    def algorithmic_latency_ms(self) -> float:
        """Audio time from a sound to the frame describing it: the hop the frame waits for
        plus the look-ahead (the window's older 15 ms are past, not future)."""
        return latency_ms(self.lookahead)

    def to_dict(self) -> dict:
        return asdict(self)


class LogMel(nn.Module):
    """Causal log-mel spectrogram: framing by reshapes and strided slices, then one matrix
    product with a fixed windowed-DFT matrix (exports cleanly, and onnxruntime runs it as a
    plain GEMM: a 1-channel strided Conv1d was ~10x slower per multiply-add).

    audio B x (CONTEXT + N*HOP) -> B x n_mels x N.
    """

    def __init__(self, n_mels: int):
        super().__init__()
        n = np.arange(faudio.WIN_SAMPLES)
        k = np.arange(faudio.N_FFT // 2 + 1)
        ang = 2 * np.pi * np.outer(k, n) / faudio.N_FFT
        win = faudio.hann_window()
        kern = np.concatenate([np.cos(ang) * win, -np.sin(ang) * win])[:, None, :]
        self.register_buffer("dft", torch.tensor(kern, dtype=torch.float32))  # 2F x 1 x WIN
        self.register_buffer("mel", torch.tensor(faudio.mel_filterbank(n_mels)))
        self.bins = faudio.N_FFT // 2 + 1
        # A frame is WIN samples every HOP: pad the end to whole hops, cut the audio into hops,
        # and frame n is hops n .. n + spans - 1 side by side, the last one cut to what WIN
        # needs. A few ops whatever N (each op costs time of its own at streaming sizes).
        self.spans = -(-faudio.WIN_SAMPLES // vocab.HOP_SAMPLES)  # hops a window touches
        self.pad = self.spans * vocab.HOP_SAMPLES - faudio.WIN_SAMPLES
        if (faudio.CONTEXT_SAMPLES + self.pad) % vocab.HOP_SAMPLES:
            raise ValueError("the frontend needs CONTEXT + pad to be whole hops")

    def frames(self, audio: torch.Tensor) -> torch.Tensor:
        """audio B x (CONTEXT + N*HOP) -> B x N x WIN analysis frames (the state's context
        plus whole hops: what `StreamingFaceNet.forward` always passes)."""
        hops = nn.functional.pad(audio, (0, self.pad)).reshape(audio.shape[0], -1, vocab.HOP_SAMPLES)
        # hops: B x (N + spans - 1) x HOP; part j is hops j .. j + N - 1. Its end is counted
        # from the end (a constant), so the exported graph needs no shape arithmetic.
        parts = [hops[:, j:_end(j, self.spans)] for j in range(self.spans)]
        parts[-1] = parts[-1][..., : vocab.HOP_SAMPLES - self.pad]
        return torch.cat(parts, dim=2)

    def forward(self, audio: torch.Tensor, warp: torch.Tensor | None = None) -> torch.Tensor:
        """warp: optional B x F fractional source bins (`vtlp_bins`), training only."""
        spec = torch.matmul(self.frames(audio), self.dft[:, 0, :].t())  # B x N x 2F
        power = spec[..., : self.bins] ** 2 + spec[..., self.bins:] ** 2  # B x N x F
        if warp is not None:
            power = warp_spectrum(power, warp)
        mel = torch.matmul(power, self.mel.t()).transpose(1, 2)  # B x M x N
        return (torch.log(mel + 1e-6) + 6.0) / 4.0  # roughly zero-mean, unit-scale


def vtlp_bins(alpha: np.ndarray, bins: int, boundary: float = 0.85) -> np.ndarray:
    """Vocal tract length perturbation (Jaitly & Hinton 2013): B factors -> B x F source bins.

    Frequency f maps to alpha * f up to a cut-off, then linearly to Nyquist, so the band
    keeps its edges; output bin k reads the power at the returned fractional source bin.
    alpha > 1 stretches the spectrum up (a shorter tract: formants and harmonics rise)."""
    top = bins - 1
    f = np.arange(bins, dtype=np.float64)
    out = np.empty((len(alpha), bins), np.float32)
    for i, a in enumerate(np.asarray(alpha, np.float64)):
        cut = boundary * top * min(a, 1.0) / a
        warped = np.where(f <= cut, a * f, a * cut + (top - a * cut) * (f - cut) / (top - cut))
        out[i] = np.interp(f, warped, f)  # warped is increasing: invert it
    return out


def warp_spectrum(power: torch.Tensor, src: torch.Tensor) -> torch.Tensor:
    """power B x N x F, src B x F fractional bins -> B x N x F, linearly interpolated."""
    lo = src.floor().long().clamp(0, power.shape[2] - 1)
    hi = (lo + 1).clamp(max=power.shape[2] - 1)
    w = (src - lo.to(src.dtype))[:, None, :]
    idx = lambda i: i[:, None, :].expand(-1, power.shape[1], -1)  # noqa: E731
    return power.gather(2, idx(lo)) * (1 - w) + power.gather(2, idx(hi)) * w


class RunningNorm(nn.Module):
    """Causal mean normalisation of the log-mels: x_t - m_t, where m_t is a running mean of the
    speech frames (cepstral mean normalisation done online, as streaming recognisers do).

    m_t = m_{t-1} + a w_t (x_t - m_{t-1}), a = 1 / (tau * fps): an exponential average whose
    step is scaled by w_t = sigmoid((e_t - SPEECH_LEVEL) / SPEECH_SLOPE), e_t the frame's mean
    log-mel, so pauses and noise barely move it and a long silence cannot drag the mean down to
    the noise floor. What it removes is what stays put over seconds: the channel's colouring
    (microphone, codec, room) and much of a speaker's long-term spectrum; the absolute level goes
    too (speech frames sit near 0 whatever the gain). A stream starts from `prior` (the training
    speech's mean, set before training), and the state is m - prior, so zeros start a stream.

    The recursion is solved in closed form for a whole chunk (one B x N x N product: a few ops
    whatever N, which the exporters trace): with g_t = log(1 - a w_t) and G its running sum,
    m_t = exp(G_t) m_0 + sum_{s <= t} exp(G_t - G_s) a w_s x_s.

    x B x M x N, dev B x M -> (x - m  B x M x N, new dev B x M).
    """

    # Frame level (mean normalised log-mel, LogMel units: 1.15 per 20 dB) at which a frame counts
    # half as speech: speech peaking at -14..-1 dBFS has its median frame near -0.3 and digital
    # silence sits at -1.95, so -1.4 takes speech down to about -35 dBFS.
    SPEECH_LEVEL = -1.4
    SPEECH_SLOPE = 0.1  # w: 0.004 at digital silence, 0.05 at -1.7 (~45 dB under speech), 0.95 at -1.1

    def __init__(self, n_mels: int, tau_s: float):
        super().__init__()
        self.a = 1.0 / (tau_s * vocab.INTERNAL_FPS)
        self.register_buffer("prior", torch.zeros(n_mels))

    def weights(self, x: torch.Tensor) -> torch.Tensor:
        """x B x M x N -> B x N speech weights in (0, 1)."""
        return torch.sigmoid((x.mean(1) - self.SPEECH_LEVEL) / self.SPEECH_SLOPE)

    def forward(self, x: torch.Tensor, dev: torch.Tensor):
        step = self.a * self.weights(x)  # B x N
        g = torch.cumsum(torch.log1p(-step), dim=1)  # B x N, falling
        # exp(G_t - G_s) for s <= t; G_t - G_s <= 0 there, so no overflow however long N.
        diff = g[:, :, None] - g[:, None, :]  # B x N(t) x N(s)
        kern = torch.tril(torch.exp(diff.clamp(max=0.0))) * step[:, None, :]
        m0 = self.prior[None, :] + dev  # B x M
        mean = torch.exp(g)[:, None, :] * m0[:, :, None] + torch.matmul(x, kern.transpose(1, 2))
        return x - mean, mean[:, :, -1] - self.prior[None, :]


class CausalConv(nn.Module):
    """Residual causal conv over frames with explicit left context.

    x B x C x N, state B x C x (k-1) -> (B x C x N, new state)."""

    def __init__(self, c_in: int, c_out: int, k: int):
        super().__init__()
        self.conv = nn.Conv1d(c_in, c_out, k)
        self.k = k
        self.c_out = c_out
        self.residual = c_in == c_out

    def forward(self, x: torch.Tensor, state: torch.Tensor):
        full = torch.cat([state, x], dim=2)  # B x C_in x (k-1+N)
        # The convolution as one matrix product over all B x N frames: the k frames each
        # output frame sees, side by side (B x N x k*C_in), times the kernel laid out to
        # match (C_out x k*C_in). An exported Conv runs one small product per stream (over
        # half the batched step's time at B=256); this runs one GEMM. Same weights
        # (`conv.weight`), same sums in another order (within 1e-6).
        ft = full.transpose(1, 2)  # B x (k-1+N) x C_in
        cols = torch.cat([ft[:, j:_end(j, self.k)] for j in range(self.k)], dim=2)  # B x N x k*C_in
        kernel = self.conv.weight.permute(0, 2, 1).reshape(self.c_out, -1)  # C_out x k*C_in
        y = nn.functional.linear(cols, kernel, self.conv.bias)  # B x N x C_out
        # LayerNorm over channels, frame by frame (a GroupNorm over time would leak the future).
        y = nn.functional.gelu(nn.functional.layer_norm(y, (self.c_out,)))
        if self.residual:
            y = y + ft[:, self.k - 1:]
        return y.transpose(1, 2), full[:, :, -(self.k - 1):]


def _end(j: int, span: int) -> int | None:
    """End of the j-th of `span` overlapping windows over a sequence, counted from its end
    (None: to the end): part j of L frames is frames j .. L - span + j."""
    return j - span + 1 or None


class StreamingFaceNet(nn.Module):
    """See the module docstring for the interface; `init_state(B)` gives zero states."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        config.validate()
        if config.conv_kernel < 2:
            raise ValueError("ModelConfig.conv_kernel must be >= 2 (a causal conv needs context)")
        self.config = config
        c = config
        self.frontend = LogMel(c.n_mels)
        self.norm = RunningNorm(c.n_mels, c.cmn_s) if c.cmn_s else None
        layers = [CausalConv(c.n_mels, c.channels, c.conv_kernel)]
        layers += [CausalConv(c.channels, c.channels, c.conv_kernel) for _ in range(c.conv_layers - 1)]
        self.convs = nn.ModuleList(layers)
        self.cond = nn.Sequential(nn.Linear(COND_DIM, c.cond_dim), nn.GELU(),
                                  nn.Linear(c.cond_dim, c.channels))
        self.gru = nn.GRU(c.channels, c.gru_hidden // 2 if c.offline else c.gru_hidden,
                          num_layers=c.gru_layers, batch_first=True, bidirectional=c.offline)
        self.head = nn.Sequential(nn.Linear(c.gru_hidden + c.channels, c.gru_hidden), nn.GELU(),
                                  nn.Linear(c.gru_hidden, OUT_DIM))

    def state_shapes(self, batch: int) -> list[tuple[int, ...]]:
        c = self.config
        shapes = [(batch, faudio.CONTEXT_SAMPLES)]
        if self.norm is not None:
            shapes.append((batch, c.n_mels))
        shapes.append((batch, c.n_mels, c.conv_kernel - 1))
        shapes += [(batch, c.channels, c.conv_kernel - 1)] * (c.conv_layers - 1)
        shapes.append((2 * c.gru_layers, batch, c.gru_hidden // 2) if c.offline
                      else (c.gru_layers, batch, c.gru_hidden))
        return shapes

    def state_names(self) -> list[str]:
        norm = ["cmn"] if self.norm is not None else []
        return ["ctx"] + norm + [f"conv{i}" for i in range(self.config.conv_layers)] + ["gru"]

    def init_state(self, batch: int = 1) -> list[torch.Tensor]:
        dev = self.frontend.dft.device
        return [torch.zeros(s, device=dev) for s in self.state_shapes(batch)]

    def forward(self, audio: torch.Tensor, cond: torch.Tensor, *state: torch.Tensor,
                warp: torch.Tensor | None = None, bands: torch.Tensor | None = None):
        """audio B x (N*HOP), cond B x N x (E+1), *state -> (out B x N x OUT_DIM, *new_state).

        Training only (keywords): warp B x F source bins of a VTLP (`vtlp_bins`); bands B x M
        multipliers of the (normalised) log-mel bands (frequency masking)."""
        ctx, h = state[0], state[-1]
        first = 2 if self.norm is not None else 1
        convs = state[first:-1]
        full = torch.cat([ctx, audio], dim=1)
        new_ctx = full[:, -faudio.CONTEXT_SAMPLES:]
        x = self.frontend(full, warp)  # B x M x N
        new_norm = []
        if self.norm is not None:
            x, dev = self.norm(x, state[1])
            new_norm.append(dev)
        if bands is not None:
            x = x * bands[:, :, None]
        new_convs = []
        for layer, s in zip(self.convs, convs):
            x, s2 = layer(x, s)
            new_convs.append(s2)
        e = self.cond(cond)  # B x N x C
        z = x.transpose(1, 2) + e  # B x N x C
        y, h2 = self.gru(z, h)
        out = self.head(torch.cat([y, e], dim=2))
        return (out, new_ctx, *new_norm, *new_convs, h2)

    def decode(self, out: torch.Tensor, gate_grad: bool = True) -> dict[str, torch.Tensor]:
        """`decode_outputs` with this model's closure gate."""
        return decode_outputs(out, self.config.gate_lo, self.config.gate_hi, gate_grad,
                              self.config.open_gain)


def _lip_masks() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """K-vectors for `close_lips`: shut (1 where a closure scales the weight by 1 - c: the lip
    openers and jawOpen), jaw (1 at jawOpen) and cap (the jaw's limit at a closure there,
    inf elsewhere)."""
    shut = np.zeros(vocab.NUM_ARKIT, np.float32)
    shut[list(lc.OPENER_INDEX) + [lc.JAW]] = 1.0
    jaw = np.zeros(vocab.NUM_ARKIT, np.float32)
    jaw[lc.JAW] = 1.0
    cap = np.full(vocab.NUM_ARKIT, np.inf, np.float32)
    cap[lc.JAW] = lc.JAW_AT_CLOSURE
    return shut, jaw, cap


_SHUT, _JAW_ONLY, _JAW_CAP = _lip_masks()
_IS_CLOSE = np.arange(vocab.NUM_ARKIT) == lc.MOUTH_CLOSE


def close_lips(arkit: torch.Tensor, closure: torch.Tensor) -> torch.Tensor:
    """`lip_contact.close_lips` in torch (the rule the rig's targets were made with).

    arkit ... x K in [0, 1], closure ... in [0, 1] -> ... x K: the jaw held at most
    JAW_AT_CLOSURE open, the lip-parting shapes faded, mouthClose raised onto the remaining jaw
    opening. Tested to match the numpy rig exactly. Whole-row ops with constant masks (no
    per-column slices and concatenation: each op is a node of the exported graph, and at
    streaming sizes a node's fixed cost outweighs its arithmetic):
    jawOpen -> (1 - c) jaw + c min(jaw, JAW_AT_CLOSURE); openers -> (1 - c) w; others kept;
    mouthClose -> max(mouthClose, c min(1, CLOSE_GAIN jaw' + CLOSE_BIAS))."""
    return _close_lips(arkit, closure[..., None])


def _close_lips(arkit: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
    """`close_lips` with the closure as ... x 1."""
    const = lambda a: torch.as_tensor(a, device=arkit.device)  # noqa: E731
    out = arkit * (1 - c * const(_SHUT)) + (c * const(_JAW_ONLY)) * torch.minimum(arkit, const(_JAW_CAP))
    jaw = out[..., lc.JAW:lc.JAW + 1]
    need = torch.clamp(lc.CLOSE_GAIN * jaw + lc.CLOSE_BIAS, max=1.0)
    out = torch.where(const(_IS_CLOSE), torch.maximum(out, c * need), out)
    return out.clamp(0.0, 1.0)


def closure_gate(p: torch.Tensor, lo: float = 0.0, hi: float = 1.0) -> torch.Tensor:
    """Lips-closed probability ... -> the rig's closure amount ..., clamp((p - lo) / (hi - lo))."""
    if lo == 0.0 and hi == 1.0:
        return p
    return ((p - lo) / (hi - lo)).clamp(0.0, 1.0)


# The shapes that part the lips by their weight; `ModelConfig.open_gain` scales them.
OPENING_SHAPES = ("jawOpen", "mouthLowerDownLeft", "mouthLowerDownRight",
                  "mouthUpperUpLeft", "mouthUpperUpRight")
_OPEN_MASK = np.isin(np.arange(vocab.NUM_ARKIT), [vocab.ARKIT_INDEX[n] for n in OPENING_SHAPES])


def open_lips(arkit: torch.Tensor, gain: float) -> torch.Tensor:
    """... x K weights with the OPENING_SHAPES multiplied by `gain` (clipped at 1)."""
    if gain == 1.0:
        return arkit
    g = torch.as_tensor(np.where(_OPEN_MASK, gain, 1.0).astype(np.float32), device=arkit.device)
    return (arkit * g.to(arkit.dtype)).clamp(max=1.0)


# tanh ranges of the jaw and neck outputs, side by side as the output layout has them
# (`decode_outputs` reads them, and the closure after them, as one run of columns).
if OUT_JAW.stop != OUT_NECK.start or OUT_NECK.stop != OUT_CLOSURE:
    raise AssertionError("decode_outputs assumes the layout arkit | jaw | neck | closure")
_POSE_RANGE = np.array([JAW_RANGE] * (OUT_JAW.stop - OUT_JAW.start)
                       + [NECK_RANGE] * (OUT_NECK.stop - OUT_NECK.start), np.float32)


def decode_outputs(out: torch.Tensor, gate_lo: float = 0.0, gate_hi: float = 1.0,
                   gate_grad: bool = True, open_gain: float = 1.0) -> dict[str, torch.Tensor]:
    """Raw network outputs B x N x OUT_DIM -> named, bounded parameters.

    arkit B x N x K in [0, 1], with the predicted lips-closed probability, through
    `closure_gate`, imposed as the rig imposes a closure; jaw B x N x 3 whose pitch follows
    jawOpen (vocab.jaw_open_to_pose's definition) and whose yaw/roll are predicted; neck
    B x N x 3 radians; closure B x N (the probability); packed B x N x OUT_DIM: all of them
    in the output layout (what exported models emit; the others are views of it).
    gate_grad=False keeps the face losses from training the closure output (training then
    fits it as a classifier only). open_gain scales the lip-opening shapes before the closure
    is imposed (`open_lips`).
    """
    closure = torch.sigmoid(out[..., OUT_CLOSURE:OUT_CLOSURE + 1])  # B x N x 1
    gate = closure_gate(closure if gate_grad else closure.detach(), gate_lo, gate_hi)
    arkit = _close_lips(open_lips(torch.sigmoid(out[..., OUT_ARKIT]), open_gain), gate)
    pose = torch.tanh(out[..., OUT_JAW.start:OUT_NECK.stop]) * torch.as_tensor(_POSE_RANGE, device=out.device)
    j = vocab.ARKIT_INDEX["jawOpen"]
    pitch = arkit[..., j:j + 1] * vocab.JAW_OPEN_MAX_RAD
    packed = torch.cat([arkit, pitch, pose[..., 1:], closure], dim=-1)
    return {"arkit": packed[..., OUT_ARKIT], "jaw": packed[..., OUT_JAW],
            "neck": packed[..., OUT_NECK], "closure": packed[..., OUT_CLOSURE], "packed": packed}


def pack_decoded(d: dict[str, torch.Tensor]) -> torch.Tensor:
    """Decoded parameters -> B x N x OUT_DIM in the output layout (what exported models emit)."""
    if "packed" in d:
        return d["packed"]
    return torch.cat([d["arkit"], d["jaw"], d["neck"], d["closure"][..., None]], dim=-1)


class DecodedNet(nn.Module):
    """The network with its outputs decoded: what exporters trace. Same inputs and states;
    `out` holds final ARKit weights in [0, 1], jaw and neck axis-angle, closure in [0, 1]."""

    def __init__(self, net: StreamingFaceNet):
        super().__init__()
        self.net = net

    def forward(self, audio: torch.Tensor, cond: torch.Tensor, *state: torch.Tensor):
        out, *new_state = self.net(audio, cond, *state)
        return (pack_decoded(self.net.decode(out)), *new_state)


def make_cond(emotion: torch.Tensor, intensity: torch.Tensor) -> torch.Tensor:
    """emotion B x N x E (weights summing to 1), intensity B x N -> cond B x N x (E+1)."""
    return torch.cat([emotion * intensity[..., None], intensity[..., None]], dim=-1)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


__all__ = ["ModelConfig", "StreamingFaceNet", "DecodedNet", "decode_outputs", "pack_decoded",
           "make_cond", "OUT_DIM",
           "COND_DIM", "MODEL_VERSION", "count_parameters"]

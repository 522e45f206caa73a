"""The streaming network: chunking is invisible, states are explicit, the config validates."""
import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="the network needs the train extra")
from facestream import vocab  # noqa: E402
from facestream.training.network import (OUT_DIM, ModelConfig, StreamingFaceNet,  # noqa: E402
                                         decode_outputs, make_cond)

SMALL = ModelConfig(n_mels=32, channels=48, conv_layers=2, gru_hidden=64, lookahead=2)


@pytest.fixture(scope="module")
def net():
    torch.manual_seed(0)
    return StreamingFaceNet(SMALL).eval()


def run_chunked(net, audio, cond, sizes):
    state, outs, t = net.init_state(audio.shape[0]), [], 0
    for n in sizes:
        o, *state = net(audio[:, t * vocab.HOP_SAMPLES:(t + n) * vocab.HOP_SAMPLES],
                        cond[:, t:t + n], *state)
        outs.append(o)
        t += n
    return torch.cat(outs, dim=1)


@pytest.fixture(scope="module")
def cmn_net():
    from dataclasses import replace
    torch.manual_seed(0)
    net = StreamingFaceNet(replace(SMALL, cmn_s=0.5)).eval()
    net.norm.prior.normal_()
    return net


@pytest.mark.parametrize("seed,which", [(0, "net"), (1, "net"), (2, "net"), (3, "cmn_net"), (4, "cmn_net")])
def test_random_chunkings_give_the_whole_clip_frames(seed, which, request):
    net = request.getfixturevalue(which)
    rng = np.random.default_rng(seed)
    n = 61
    audio = torch.tensor(rng.normal(size=(2, n * vocab.HOP_SAMPLES)) * 0.1, dtype=torch.float32)
    cond = torch.tensor(rng.random((2, n, 8)), dtype=torch.float32)
    with torch.no_grad():
        whole = net(audio, cond, *net.init_state(2))[0]
        sizes = []
        while sum(sizes) < n:
            sizes.append(int(min(rng.integers(1, 12), n - sum(sizes))))
        chunked = run_chunked(net, audio, cond, sizes)
    assert whole.shape == (2, n, OUT_DIM)
    assert (chunked - whole).abs().max().item() < 1e-4


def test_output_is_causal(net):
    """Changing audio after frame t never changes outputs up to t."""
    rng = np.random.default_rng(3)
    a = torch.tensor(rng.normal(size=(1, 40 * vocab.HOP_SAMPLES)), dtype=torch.float32)
    b = a.clone()
    b[:, 25 * vocab.HOP_SAMPLES:] = torch.randn(1, 15 * vocab.HOP_SAMPLES)
    cond = torch.zeros(1, 40, 8)
    with torch.no_grad():
        oa = net(a, cond, *net.init_state(1))[0]
        ob = net(b, cond, *net.init_state(1))[0]
    assert torch.equal(oa[:, :25], ob[:, :25])
    assert not torch.equal(oa[:, 25:], ob[:, 25:])


def test_decoded_outputs_are_bounded(net):
    out = torch.randn(3, 7, OUT_DIM) * 10
    d = decode_outputs(out)
    assert d["arkit"].shape == (3, 7, 52) and d["arkit"].min() >= 0 and d["arkit"].max() <= 1
    assert d["jaw"].abs().max() <= 0.6 and d["closure"].shape == (3, 7)


def test_cond_layout():
    e = torch.zeros(1, 4, 7)
    e[..., 1] = 1
    c = make_cond(e, torch.full((1, 4), 0.5))
    assert c.shape == (1, 4, 8) and c[0, 0, 1] == 0.5 and c[0, 0, 7] == 0.5


def test_config_validation():
    with pytest.raises(ValueError, match="lookahead"):
        ModelConfig(lookahead=-1).validate()
    assert ModelConfig(lookahead=2).algorithmic_latency_ms == pytest.approx(30.0)


def test_closure_gate_matches_the_rig(rng):
    from facestream.training.corpus.rig import enforce_contacts
    from facestream.training.network import close_lips
    arkit = rng.random((40, 52)).astype(np.float32)
    c = rng.random(40).astype(np.float32)
    c[:5] = 0
    c[5:10] = 1
    ref = enforce_contacts(arkit, c)
    got = close_lips(torch.from_numpy(arkit), torch.from_numpy(c)).numpy()
    assert np.abs(got - ref).max() < 1e-6
    assert np.array_equal(got[:5], np.clip(arkit[:5], 0, 1))


def test_jaw_pitch_follows_jaw_open():
    out = torch.randn(2, 5, OUT_DIM)
    d = decode_outputs(out)
    assert torch.allclose(d["jaw"][..., 0], d["arkit"][..., vocab.ARKIT_INDEX["jawOpen"]] * vocab.JAW_OPEN_MAX_RAD)


def test_sharpened_gate_and_detached_closure():
    from facestream.training.network import closure_gate
    p = torch.tensor([0.0, 0.3, 0.5, 0.7, 1.0])
    assert torch.equal(closure_gate(p), p)
    assert torch.allclose(closure_gate(p, 0.3, 0.7), torch.tensor([0.0, 0.0, 0.5, 1.0, 1.0]))
    with pytest.raises(ValueError, match="gate_lo"):
        ModelConfig(gate_lo=0.8, gate_hi=0.2).validate()
    # gate_grad=False: face losses reach the ARKit logits but not the lips-closed logit
    out = torch.zeros(1, 3, OUT_DIM)
    out[..., -1] = 0.5
    out.requires_grad_(True)
    decode_outputs(out, 0.3, 0.7, gate_grad=False)["arkit"].sum().backward()
    assert out.grad[..., -1].abs().max() == 0 and out.grad[..., :52].abs().max() > 0
    out.grad = None
    decode_outputs(out, 0.3, 0.7, gate_grad=True)["arkit"].sum().backward()
    assert out.grad[..., -1].abs().max() > 0


def test_vtlp_moves_a_tone_by_its_factor_and_keeps_the_band():
    """Vocal tract length perturbation: a warp of 1 is the identity, the band's ends stay put,
    and the log-mel of a 1 kHz tone under alpha = 1.1 peaks where a 1.1 kHz tone does."""
    from facestream.training.network import LogMel, vtlp_bins
    bins = vtlp_bins(np.array([0.88, 1.0, 1.12]), 257)
    np.testing.assert_allclose(bins[1], np.arange(257), atol=1e-4)
    assert np.all(np.diff(bins, axis=1) > 0) and np.allclose(bins[:, [0, -1]], [0, 256])
    assert bins[2, 100] < 100 < bins[0, 100]  # alpha > 1 reads lower bins: the spectrum rises
    fe = LogMel(64)
    t = np.arange(240 + 100 * 160) / 16000  # the frontend takes CONTEXT + N * HOP samples

    def peak(freq, alpha=None):
        x = torch.tensor(np.sin(2 * np.pi * freq * t), dtype=torch.float32)[None]
        warp = None if alpha is None else torch.from_numpy(vtlp_bins(np.array([alpha]), fe.bins))
        return int(fe(x, warp)[0].mean(1).argmax())

    assert peak(1000, 1.1) == peak(1100) != peak(1000)
    assert peak(1000, 0.9) == peak(900) != peak(1000)


def test_running_norm_is_the_recursion_it_documents(cmn_net):
    """RunningNorm's closed form equals m_t = m_{t-1} + a w_t (x_t - m_{t-1}) frame by frame,
    from prior + the state, and hands on m_N - prior."""
    norm = cmn_net.norm
    rng = np.random.default_rng(0)
    x = torch.tensor(rng.normal(size=(2, 32, 40)) * 0.8 - 0.5, dtype=torch.float32)
    dev = torch.tensor(rng.normal(size=(2, 32)) * 0.3, dtype=torch.float32)
    y, new = norm(x, dev)
    m, w, ref = norm.prior[None] + dev, norm.weights(x), []
    for t in range(x.shape[2]):
        m = m + norm.a * w[:, t:t + 1] * (x[:, :, t] - m)
        ref.append(x[:, :, t] - m)
    assert (torch.stack(ref, 2) - y).abs().max() < 1e-5
    assert (new - (m - norm.prior[None])).abs().max() < 1e-5
    assert cmn_net.state_names()[1] == "cmn" and cmn_net.state_shapes(3)[1] == (3, 32)


def test_running_norm_ignores_silence_and_removes_gain_and_colouring(cmn_net):
    """What the normalisation is for: a long silence leaves the mean where speech put it, and
    the same sound through another gain or a tilted channel gives nearly the same features."""
    norm = cmn_net.norm
    rng = np.random.default_rng(1)
    speech = torch.tensor(rng.normal(size=(1, 32, 300)) * 0.3 - 0.3, dtype=torch.float32)
    _, dev = norm(speech, torch.zeros(1, 32))
    silence = torch.full((1, 32, 1000), -1.95)  # 20 time constants of digital silence
    _, dev_after = norm(silence, dev)
    gap = (norm.prior + dev + 1.95).abs()  # how far silence is from the speech mean, per band
    assert ((dev_after - dev).abs() / gap).max() < 0.1
    tilt = torch.linspace(-0.4, 0.4, 32)[None, :, None]  # +-0.4: about 7 dB each way
    y1, _ = norm(speech, torch.zeros(1, 32))
    y2, _ = norm(speech + 0.5 + tilt, torch.zeros(1, 32))  # ~9 dB louder, recoloured
    late = slice(200, None)  # after 2 s (4 time constants) the prior is forgotten
    assert (y1[..., late] - y2[..., late]).abs().max() < 0.05
    assert (speech + 0.5 + tilt - speech)[..., late].abs().max() > 0.5  # a real difference


def test_cmn_config_validates():
    from dataclasses import replace
    with pytest.raises(ValueError, match="cmn_s"):
        replace(SMALL, cmn_s=0.01).validate()

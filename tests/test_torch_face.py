"""The torch face layer gives the numpy layer's numbers."""
import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="the torch face layer needs the train extra")
from facestream.engine.lbs_torch import TorchHead, rodrigues  # noqa: E402
from facestream.engine import lbs  # noqa: E402


def test_rodrigues_agrees(rng):
    rv = rng.normal(size=(32, 3))
    rv[0] = 0
    got = rodrigues(torch.tensor(rv, dtype=torch.float64)).numpy()
    assert np.allclose(got, lbs.rodrigues(rv), atol=1e-6)


def test_torch_and_numpy_heads_agree(head, rng):
    expr = rng.random((5, head.num_expressions)).astype(np.float32) * 0.6
    pose = (rng.normal(size=(5, 15)) * 0.2).astype(np.float32)
    th = TorchHead(head)
    with torch.no_grad():
        got = th(torch.from_numpy(expr), torch.from_numpy(pose)).numpy()
    assert np.abs(got - head.forward(expr, pose)).max() < 1e-5


def test_torch_head_is_differentiable(head):
    th = TorchHead(head)
    expr = torch.zeros(1, head.num_expressions, requires_grad=True)
    pose = torch.zeros(1, 15, requires_grad=True)
    th(expr, pose).sum().backward()
    assert torch.isfinite(pose.grad).all() and expr.grad.abs().sum() > 0

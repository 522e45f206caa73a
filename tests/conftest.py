import numpy as np
import pytest

from facestream.engine.head import load_head


@pytest.fixture(scope="session")
def head():
    return load_head()


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.fixture(scope="session")
def tiny_corpus(tmp_path_factory):
    """A corpus of three voices, ~7 s each, built through the real builder."""
    from corpus_fixture import build_tiny, require_engines
    require_engines()
    root = tmp_path_factory.mktemp("corpus") / "tiny"
    rep = build_tiny(root)
    assert not rep["errors"], rep["errors"]
    return root

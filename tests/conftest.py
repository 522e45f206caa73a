import numpy as np
import pytest

from facestream.engine.head import load_head


@pytest.fixture(scope="session")
def head():
    return load_head()


@pytest.fixture
def rng():
    return np.random.default_rng(0)

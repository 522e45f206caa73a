"""What every exported model carries about itself: `contract.build_metadata` for a network.

The names and the layout are the contract's (facestream/contract.py); this module only reads
them off a StreamingFaceNet (torch side)."""
from __future__ import annotations

from ..contract import AUDIO_INPUT, COND_INPUT, OUTPUT, STATE_OUT_SUFFIX  # noqa: F401  (re-exported)
from ..contract import build_metadata as _build


def build_metadata(net, head: str, extra: dict | None = None, layout: str = "engine") -> dict[str, str]:
    """Metadata of a StreamingFaceNet (or a wrapper with its interface) whose states are laid
    out as `layout` says (net.state_shapes(1) gives them in that layout)."""
    return _build(net.config.to_dict(), net.state_names(), net.state_shapes(1), head,
                  layout=layout, extra=extra)

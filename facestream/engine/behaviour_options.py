"""The options of a stream's behaviour (`behaviour.Behaviour`): which of blinks, gaze, head
motion and brow raises are on, how strong, the articulation strength and the seed; checked
when made, so a bad value from a client or the command line is refused with what is allowed.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields, replace

import numpy as np

GAZE_MODES = ("auto", "camera", "off")
MAX_GAZE_DEG = 20.0  # eyes stay within this of straight ahead (the eyeLook shapes' range)
BLINK_RATE_REST = 17.0  # per minute, at rest (Bentivoglio et al. 1997)
MAX_ARTICULATION = 2.0


@dataclass(frozen=True)
class BehaviourOptions:
    """What a stream adds to the model's face. Defaults: everything on."""

    blinks: bool = True  # spontaneous blinks
    blink_rate: float = BLINK_RATE_REST  # blinks per minute at rest (talking adds more)
    gaze: str | tuple[float, float] = "auto"  # "auto": at the camera while listening, averted
    # while talking; "camera"; a (yaw, pitch) target in degrees; "off": eyes still
    head: float = 1.0  # idle motion, accent nods and gaze following (0: the model's neck only)
    brows: float = 1.0  # brow raises on accented syllables (0: none)
    articulation: float = 1.0  # mouth strength: < 1 damps the speech, > 1 exaggerates it
    seed: int = 0  # the stream's random seed

    def __post_init__(self) -> None:
        if not isinstance(self.blinks, (bool, np.bool_)):
            raise ValueError(f"blinks must be true or false, got {self.blinks!r}")
        _number("blink_rate", self.blink_rate, 1.0, 60.0, "blinks per minute")
        _number("head", self.head, 0.0, 3.0, "x the default motion")
        _number("brows", self.brows, 0.0, 3.0, "x the default raise")
        _number("articulation", self.articulation, 0.0, MAX_ARTICULATION, "x the model's mouth")
        if not isinstance(self.seed, (int, np.integer)) or isinstance(self.seed, bool) \
                or self.seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {self.seed!r}")
        g = self.gaze
        if isinstance(g, str):
            if g not in GAZE_MODES:
                raise ValueError(f"gaze must be one of {', '.join(GAZE_MODES)} or a (yaw, pitch) "
                                 f"target in degrees, got {g!r}")
        else:
            try:
                yaw, pitch = (float(v) for v in g)
            except (TypeError, ValueError):
                raise ValueError(f"gaze must be one of {', '.join(GAZE_MODES)} or a (yaw, pitch) "
                                 f"target in degrees, got {g!r}") from None
            for name, v in (("yaw", yaw), ("pitch", pitch)):
                _number(f"gaze {name}", v, -MAX_GAZE_DEG, MAX_GAZE_DEG, "degrees")
            object.__setattr__(self, "gaze", (yaw, pitch))

    @classmethod
    def from_any(cls, value: "BehaviourOptions | dict | None", **overrides) -> "BehaviourOptions":
        """Options from options, a {field: value} dict (unknown fields are an error) or None."""
        base = value if isinstance(value, cls) else cls()
        changes = dict(value) if isinstance(value, dict) else {}
        changes.update(overrides)
        return base.updated(**changes)

    def updated(self, **changes) -> "BehaviourOptions":
        known = {f.name for f in fields(self)}
        unknown = sorted(set(changes) - known)
        if unknown:
            raise ValueError(f"unknown behaviour option(s) {unknown}: expected {sorted(known)}")
        return replace(self, **changes)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["gaze"] = list(self.gaze) if isinstance(self.gaze, tuple) else self.gaze
        return d


def _number(name: str, v, lo: float, hi: float, unit: str) -> None:
    ok = isinstance(v, (int, float, np.floating, np.integer)) and not isinstance(v, bool)
    if not (ok and math.isfinite(v) and lo <= v <= hi):
        raise ValueError(f"{name} must be a number within [{lo:g}, {hi:g}] ({unit}), got {v!r}")


def parse_gaze(text: str) -> str | tuple[float, float]:
    """'auto', 'camera', 'off' or 'YAW,PITCH' (degrees) -> a BehaviourOptions.gaze value."""
    if text in GAZE_MODES:
        return text
    try:
        yaw, pitch = (float(v) for v in text.split(","))
    except ValueError:
        raise ValueError(f"gaze must be {', '.join(GAZE_MODES)} or YAW,PITCH in degrees "
                         f"(e.g. 10,-5), got {text!r}") from None
    return yaw, pitch

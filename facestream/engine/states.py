"""Batching the model states of many streams (`Engine.decode_arrays`).

A stream's state is a row of arrays that a batched step returned: streams decoded together
hold rows of the same arrays (`Stream._state`, `Stream._row`). Nothing may write into a
state in place (a step returns new arrays), so rows can be shared and passed on as they are.
"""
from __future__ import annotations

import numpy as np


def gather_states(held: list[tuple[list[np.ndarray], int]], axes: list[int]) -> list[np.ndarray]:
    """The states of a group of streams, given as (arrays, row) per stream in group order,
    batched along each state's batch axis (`axes`, one per state array). A run of streams
    that hold rows of the same arrays costs one slice (or one gather) per state; the same
    streams in the same order as the arrays' rows cost nothing (the arrays themselves)."""
    first = held[0][0]
    if all(arrays is first and row == b for b, (arrays, row) in enumerate(held)) \
            and first[0].shape[axes[0]] == len(held):
        return first
    runs: list[tuple[list[np.ndarray], list[int]]] = []  # (arrays, rows), in group order
    for arrays, row in held:
        if runs and runs[-1][0] is arrays:
            runs[-1][1].append(row)
        else:
            runs.append((arrays, [row]))
    picks = [_pick(rows) for _, rows in runs]
    states = []
    for j, axis in enumerate(axes):
        lead = (slice(None),) * axis
        parts = [arrays[j][lead + (pick,)] for (arrays, _), pick in zip(runs, picks)]
        states.append(np.ascontiguousarray(parts[0]) if len(parts) == 1
                      else np.concatenate(parts, axis=axis))
    return states


def _pick(rows: list[int]) -> slice | list[int]:
    """An index for `rows` of an axis: a slice when they are a contiguous range in order (a
    view, no copy), else the list (a gather)."""
    lo, hi = rows[0], rows[0] + len(rows)
    return slice(lo, hi) if rows == list(range(lo, hi)) else rows

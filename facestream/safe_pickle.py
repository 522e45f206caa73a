"""Reading data pickles without letting them run code.

Model and dataset files of this field (FLAME, VOCASET) are python-2 pickles of numpy arrays
in plain containers. `DataUnpickler` resolves only numpy's array and scalar reconstruction
and plain builtins; a subclass may allow more through `allow(module, name)` (the FLAME
loader adds scipy.sparse matrices and chumpy stand-ins). Anything else raises `refused`,
an exception class the caller chooses so the error names its own file type and fix.
"""
from __future__ import annotations

import importlib
import io
import pickle
from pathlib import Path

import numpy as np

PY2_MODULES = {"__builtin__": "builtins", "copy_reg": "copyreg"}
SAFE_BUILTINS = frozenset({"dict", "list", "tuple", "set", "frozenset", "int", "float", "complex",
                           "bool", "str", "bytes", "bytearray", "slice", "object"})
_NUMPY_CORE = {"multiarray": ("_reconstruct", "scalar"), "numeric": ("_frombuffer",)}
_STDLIB = {("copyreg", "_reconstructor"), ("_codecs", "encode"), ("collections", "OrderedDict")}


def numpy_core(submodule: str):
    """numpy._core.X on numpy 2, numpy.core.X on numpy 1."""
    try:
        return importlib.import_module(f"numpy._core.{submodule}")
    except ImportError:  # pragma: no cover - numpy 1.x
        return importlib.import_module(f"numpy.core.{submodule}")


class DataUnpickler(pickle.Unpickler):
    """numpy arrays and plain containers only. Subclasses set `refused` and may override
    `allow` to resolve more globals (return None to refuse)."""

    refused: type[Exception] = pickle.UnpicklingError
    what = "this file"

    def allow(self, module: str, name: str):
        return None

    def find_class(self, module: str, name: str):
        module = PY2_MODULES.get(module, module)
        if module == "builtins" and name in SAFE_BUILTINS:
            return getattr(__import__("builtins"), name)
        if (module, name) in _STDLIB:
            return super().find_class(module, name)
        if module == "numpy" and name in ("ndarray", "dtype"):
            return getattr(np, name)
        for sub, names in _NUMPY_CORE.items():
            if module in (f"numpy.core.{sub}", f"numpy._core.{sub}") and name in names:
                return getattr(numpy_core(sub), name)
        found = self.allow(module, name)
        if found is not None:
            return found
        raise self.refusal(module, name)

    def refusal(self, module: str, name: str) -> Exception:
        return self.refused(f"refusing to unpickle {module}.{name} from {self.what}: only "
                            "numpy arrays and plain data may appear in it")


def load(path: str | Path, unpickler: type[DataUnpickler], what: str, hint: str = ""):
    """Read `path` with `unpickler` (latin1 for python-2 byte strings). Every failure —
    unreadable, truncated, garbage, a refused class — raises `unpickler.refused`; `hint` is
    appended to the messages of unreadable files."""
    err = unpickler.refused
    try:
        data = Path(path).read_bytes()
    except OSError as e:
        raise err(f"cannot read {what} {path}: {e}{hint}") from e
    try:
        u = unpickler(io.BytesIO(data), encoding="latin1")
        u.what = f"{what} {Path(path).name}"
        return u.load()
    except err:
        raise
    except Exception as e:  # truncated, garbage, or a pickle of something else entirely
        raise err(f"{path} is not a readable {what} ({type(e).__name__}: {e}){hint}") from e

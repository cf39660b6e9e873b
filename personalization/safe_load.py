"""Read a saved model without running code from the file.

A pickle names the callables that rebuild its objects, and an unrestricted loader calls any of
them (``os.system`` included) while reading. ``load_artifact`` reads joblib files through an
unpickler that resolves only *classes* from the packages a model is made of (this library,
numpy, scipy, pandas, scikit-learn, imbalanced-learn and a few standard-library containers) and a
short list of named rebuild functions (pyarrow's for pandas' text columns, the two column
converters of the classifier pipelines); any other name is refused with ``UntrustedModelError``
before it is imported. Some classes of those packages do touch files (``numpy.memmap`` creates
the file it is given, pandas' and scipy's file readers and writers open theirs), so a name is also
refused when it is a dotted path (``module.attr.attr``), when its module is one that reads or
writes files, runs tests or a command line (``UNSAFE_MODULE_PARTS``; checked before anything is
imported), when the class was defined outside those packages (re-exported), or when it is a file
(an ``io`` stream, a memory map) or opens one (it has ``close`` or ``__enter__``). What is left
is made of data holders and estimators, which neither run a command nor open a file in their
constructor or ``__setstate__``.
"""

from __future__ import annotations

import io
import os

import numpy as np
from joblib import numpy_pickle

from personalization.errors import BadInputError

TRUSTED_PACKAGES = ("personalization", "numpy", "scipy", "pandas", "sklearn", "imblearn")
TRUSTED_BUILTINS = {
    ("builtins", n)
    for n in ("set", "frozenset", "slice", "complex", "bytearray", "dict", "list", "tuple")
} | {
    ("collections", "OrderedDict"),
    ("collections", "defaultdict"),
    ("datetime", "datetime"),
    ("datetime", "date"),
    ("datetime", "timedelta"),
    ("datetime", "timezone"),
    ("joblib.numpy_pickle", "NumpyArrayWrapper"),
}
TRUSTED_FUNCTIONS = {
    ("copyreg", "_reconstructor"),
    ("_codecs", "encode"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy.random._pickle", "__randomstate_ctor"),
    ("numpy.random._pickle", "__bit_generator_ctor"),
    ("numpy.random._pickle", "__generator_ctor"),
    ("numpy.random.bit_generator", "__pyx_unpickle_SeedSequence"),
    ("pyarrow.lib", "_restore_array"),
    ("pyarrow.lib", "py_buffer"),
    ("pyarrow.lib", "type_for_alias"),
    ("personalization.propensity.pipelines", "to_numbers"),
    ("personalization.propensity.pipelines", "to_text"),
    ("pandas._libs.internals", "_unpickle_block"),
    ("pandas.core.internals.blocks", "new_block"),
    ("pandas._libs.tslibs.timestamps", "_unpickle_timestamp"),
    ("pandas._libs.tslibs.timedeltas", "_timedelta_unpickle"),
    ("pandas._libs.tslibs.nattype", "__nat_unpickle"),
    ("pandas.core.indexes.base", "_new_Index"),
    ("pandas.core.indexes.period", "_new_PeriodIndex"),
    ("pandas._libs.arrays", "__pyx_unpickle_NDArrayBacked"),
    ("sklearn.tree._tree", "__pyx_unpickle_Tree"),
}


class UntrustedModelError(BadInputError):
    """A model file names something a model is not made of; nothing from it was run."""


UNSAFE_MODULE_PARTS = frozenset(
    {
        "__main__", "io", "testing", "_testing", "tests", "conftest", "f2py", "distutils",
        "datasets", "_datasource", "npyio", "_npyio_impl", "memmap", "cli", "store", "deploy",
        "workspace", "spark", "jobs", "export", "ctypeslib", "_pytesttester",
    }
)  # fmt: skip
UNSAFE_BASES = (io.IOBase, np.memmap)
FILE_METHODS = ("close", "__enter__", "flush")


class TrustedUnpickler(numpy_pickle.NumpyUnpickler):
    """joblib's unpickler, resolving only trusted classes and rebuild functions (joblib routes
    the nested pickles of object arrays through this ``find_class`` too)."""

    def find_class(self, module: str, name: str):
        if (module, name) in TRUSTED_FUNCTIONS or (module, name) in TRUSTED_BUILTINS:
            return super().find_class(module, name)
        refused = untrusted_name(module, name)
        if refused:
            raise UntrustedModelError(f"it asks for {module}.{name}, {refused}")
        found = super().find_class(module, name)
        refused = untrusted_class(found)
        if refused:
            raise UntrustedModelError(f"it asks for {module}.{name}, {refused}")
        return found


def untrusted_name(module: str, name: str) -> str | None:
    """Why ``module``.``name`` may not even be imported, or None (a check of the text alone)."""
    parts = module.split(".")
    if parts[0] not in TRUSTED_PACKAGES:
        return "which no model is made of"
    if "." in name or not name.isidentifier():
        return "a dotted path, which no model is made of"
    if UNSAFE_MODULE_PARTS.intersection(parts):
        return "from a module that reads or writes files or runs commands"
    return None


def untrusted_class(found) -> str | None:
    """Why the resolved ``found`` may not be called, or None."""
    if not isinstance(found, type):
        return "which is not a class"
    home = (getattr(found, "__module__", None) or "").split(".")
    if home[0] not in TRUSTED_PACKAGES or UNSAFE_MODULE_PARTS.intersection(home):
        return f"a class of {found.__module__}, which no model is made of"
    if issubclass(found, UNSAFE_BASES) or any(hasattr(found, m) for m in FILE_METHODS):
        return "a class that opens or writes files"
    return None


def load_artifact(path: str | os.PathLike):
    """The object saved by ``joblib.dump`` at ``path``, read with ``TrustedUnpickler``.

    Raises ``UntrustedModelError`` for a file that names anything else, and the reader's own
    errors for a damaged file."""
    path = os.fspath(path)
    with open(path, "rb") as handle:
        with numpy_pickle._validate_fileobject_and_memmap(handle, path, None) as (fobj, _):
            if isinstance(fobj, str):
                raise UntrustedModelError("it was written by a joblib older than 0.10")
            return TrustedUnpickler(path, fobj, True, mmap_mode=None).load()

"""Read a saved model without running code from the file.

A pickle names the callables that rebuild its objects, and an unrestricted loader calls any of
them (``os.system`` included) while reading. ``load_artifact`` reads joblib files through an
unpickler that resolves only *classes* from the packages a model is made of (this library,
numpy, scipy, pandas, scikit-learn, imbalanced-learn and a few standard-library containers) and a
short list of named rebuild functions (pyarrow's for pandas' text columns, the two column
converters of the classifier pipelines); any other name is refused with ``UntrustedModelError``
before it is imported. Classes are safe to call here: none of these packages' classes runs a
command or opens a file in its constructor or ``__setstate__``.
"""

from __future__ import annotations

import os

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


class TrustedUnpickler(numpy_pickle.NumpyUnpickler):
    """joblib's unpickler, resolving only trusted classes and rebuild functions (joblib routes
    the nested pickles of object arrays through this ``find_class`` too)."""

    def find_class(self, module: str, name: str):
        if (module, name) in TRUSTED_FUNCTIONS or (module, name) in TRUSTED_BUILTINS:
            return super().find_class(module, name)
        if module.split(".")[0] not in TRUSTED_PACKAGES:
            raise UntrustedModelError(f"it asks for {module}.{name}, which no model is made of")
        found = super().find_class(module, name)
        if not isinstance(found, type):
            raise UntrustedModelError(f"it asks to call {module}.{name}, which is not a class")
        return found


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

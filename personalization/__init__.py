"""Personalization workbench: turn interaction data into recommendations and conversion scores.

The library behind the Streamlit dashboard and the command line (``python -m personalization``).
It never imports streamlit; only ``personalization.store`` talks to DuckDB.
"""

__version__ = "0.1.0"


def __getattr__(name: str):
    """``from personalization import load_model``: embedded use, imported on first use."""
    if name == "load_model":
        from personalization.deploy.embedded import load_model

        return load_model
    raise AttributeError(f"module 'personalization' has no attribute {name!r}")

"""Personalization workbench: turn interaction data into recommendations and conversion scores.

The library behind the Streamlit dashboard and the command line (``python -m personalization``).
It never imports streamlit; only ``personalization.store`` talks to DuckDB.
"""

__version__ = "0.1.0"

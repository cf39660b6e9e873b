"""The only package that talks to DuckDB (all SQL of the project lives here).

- ``core``: connections (with a short retry while another process writes), identifier quoting,
  generic queries, the list of user tables.
- ``catalog``: the tables the project owns: datasets, models and feedback.
- ``loading``: files into tables (read, convert, reject, deduplicate, store in one transaction).
- ``attributes``: item / user attributes from an events file into ``items`` / ``users``.
- ``profiling``: column statistics and event counts for the data profile.
- ``events``: events and item / user attributes as frames, for the recommenders.
- ``features``: the per-customer feature table, built in SQL.
- ``monitoring``: logged lists, export runs with control groups, survey answers; event windows.
- ``sequences``: events ordered by time within users and sessions, for the sequence models.

The most used names of ``core`` and ``catalog`` are offered here (``store.read_table``, ...).
"""

from personalization.store.attributes import AttributeSet, fill_attributes, merge_attribute_frames
from personalization.store.catalog import (
    add_feedback,
    datasets,
    delete_model,
    feedback,
    get_model,
    insert_model,
    list_models,
    record_dataset,
    set_promoted,
    table_stamp,
)
from personalization.store.core import (
    check_data_table_name,
    connect,
    count_rows,
    database_file,
    execute,
    held,
    list_tables,
    query_df,
    query_rows,
    quote_ident,
    read_table,
    read_table_blocks,
    require_table,
    table_columns,
    table_exists,
    table_names,
)
from personalization.store.sequences import read_sequences

__all__ = [
    "AttributeSet",
    "fill_attributes",
    "merge_attribute_frames",
    "check_data_table_name",
    "add_feedback",
    "connect",
    "count_rows",
    "database_file",
    "datasets",
    "delete_model",
    "execute",
    "held",
    "feedback",
    "get_model",
    "insert_model",
    "list_models",
    "list_tables",
    "query_df",
    "query_rows",
    "quote_ident",
    "read_sequences",
    "read_table",
    "read_table_blocks",
    "record_dataset",
    "require_table",
    "set_promoted",
    "table_columns",
    "table_stamp",
    "table_exists",
    "table_names",
]

"""The only package that talks to DuckDB.

``core`` opens connections and runs generic queries; ``catalog`` owns the datasets, models and
feedback tables; ``loading`` turns files into tables; ``events`` reads interactions for the
recommenders; ``features`` builds per-user feature tables in SQL.
"""

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
    update_model_metrics,
)
from personalization.store.core import (
    connect,
    count_rows,
    database_file,
    execute,
    list_tables,
    query_df,
    query_rows,
    quote_ident,
    read_table,
    require_table,
    table_columns,
    table_exists,
    table_names,
)

__all__ = [
    "add_feedback",
    "connect",
    "count_rows",
    "database_file",
    "datasets",
    "delete_model",
    "execute",
    "feedback",
    "get_model",
    "insert_model",
    "list_models",
    "list_tables",
    "query_df",
    "query_rows",
    "quote_ident",
    "read_table",
    "record_dataset",
    "require_table",
    "set_promoted",
    "table_columns",
    "table_exists",
    "table_names",
    "update_model_metrics",
]

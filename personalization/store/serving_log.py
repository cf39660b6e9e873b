"""What the REST service reads and writes, each in one short connection: the promoted model ids
(polled about once a second, read-only, with a short wait) and feedback on recommendations.

The ``feedback`` catalog table holds a thumbs up (+1) or down (-1); the service also records
clicks and conversions, so this module adds an ``action`` column (``thumbs_up``, ``thumbs_down``,
``click``, ``conversion``) with ``ALTER TABLE ... ADD COLUMN IF NOT EXISTS``; a click or a
conversion has ``thumbs`` 0, so sums of thumbs keep their meaning.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from personalization import config
from personalization.store.core import connect, transaction

ACTIONS = {"thumbs_up": 1, "thumbs_down": -1, "click": 0, "conversion": 0}
FEEDBACK_DDL = "ALTER TABLE feedback ADD COLUMN IF NOT EXISTS action VARCHAR"
POLL_TIMEOUT_SECONDS = 0.2


def database_signature(db: str | os.PathLike | None = None) -> tuple:
    """Size and modification time of the database file and its write-ahead log: a cheap test of
    whether anything was written since the last look (no connection is opened)."""
    path = config.db_path(db)
    out = []
    for candidate in (path, Path(f"{path}.wal")):
        try:
            stat = candidate.stat()
            out.append((stat.st_size, stat.st_mtime_ns))
        except OSError:
            out.append(None)
    return tuple(out)


def promoted_ids(
    db: str | os.PathLike | None = None, timeout: float = POLL_TIMEOUT_SECONDS
) -> dict[str, str]:
    """``{kind: model_id}`` of the promoted models, read in one read-only connection that waits
    at most ``timeout`` seconds for a writer (then ``DatabaseBusyError``)."""
    with connect(db, read_only=True, timeout=timeout) as con:
        exists = con.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_name = 'models'"
        ).fetchone()[0]
        if not exists:
            return {}
        rows = con.execute(
            "SELECT kind, model_id FROM models WHERE status = 'promoted' ORDER BY created"
        ).fetchall()
    return {kind: model_id for kind, model_id in rows}


def record_feedback(
    rows: Sequence[tuple[str, str, str | None, str]],
    db: str | os.PathLike | None = None,
    timeout: float = 1.0,
) -> int:
    """Store ``(user_id, item_id, model_id, action)`` rows in one transaction; returns how many.
    ``action`` is one of ``ACTIONS`` (else ``ValueError``). Waits at most ``timeout`` seconds for
    another writer (then ``DatabaseBusyError``, nothing stored)."""
    now = datetime.now()
    values = []
    for user_id, item_id, model_id, action in rows:
        if action not in ACTIONS:
            raise ValueError(f"action must be one of {', '.join(ACTIONS)}; got {action!r}")
        values.append([str(user_id), str(item_id), model_id, ACTIONS[action], now, action])
    if not values:
        return 0
    with connect(db, timeout=timeout) as con:
        con.execute(FEEDBACK_DDL)
        with transaction(con):
            con.executemany(
                "INSERT INTO feedback (user_id, item_id, model_id, thumbs, created, action) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                values,
            )
    return len(values)

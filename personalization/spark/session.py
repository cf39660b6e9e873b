"""The optional install check and the one ``SparkSession`` of a command.

``spark_session(master)`` starts (or reuses) a session on ``master`` (``local[*]`` by default;
``--spark-master``), in UTC with few shuffle partitions for a laptop, plus every setting of the
JSON object in the file ``$PERSONALIZATION_SPARK_CONF`` (e.g. ``{"spark.executor.memory": "8g"}``)
and of ``$PERSONALIZATION_SPARK_MASTER`` when no master is given.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

from personalization.errors import BadInputError

DEFAULT_MASTER = "local[*]"
INSTALL = (
    "pip install -r requirements-spark.txt and a Java runtime "
    "(apt-get install openjdk-17-jre-headless)"
)
DEFAULTS = {
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.shuffle.partitions": "8",
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
}


def require_spark() -> None:
    """Raise ``BadInputError`` naming the install commands when pyspark or Java is missing."""
    try:
        import pyspark  # noqa: F401
    except ImportError:
        raise BadInputError(
            f"--engine spark needs pyspark, which is not installed; {INSTALL}."
        ) from None
    if not (shutil.which("java") or os.environ.get("JAVA_HOME")):
        raise BadInputError(f"--engine spark needs a Java runtime, and none was found; {INSTALL}.")


def settings() -> dict[str, str]:
    """``DEFAULTS`` overridden by the JSON object in ``$PERSONALIZATION_SPARK_CONF``."""
    out = dict(DEFAULTS)
    path = os.environ.get("PERSONALIZATION_SPARK_CONF")
    if path:
        try:
            given = json.loads(Path(path).read_text())
        except (OSError, ValueError) as exc:
            raise BadInputError(
                f"PERSONALIZATION_SPARK_CONF={path} is not a readable JSON file ({exc}); "
                'write one like {"spark.executor.memory": "8g"}.'
            ) from None
        if not isinstance(given, dict):
            raise BadInputError(
                f"PERSONALIZATION_SPARK_CONF={path} must hold one JSON object of Spark settings."
            )
        out.update({str(k): str(v) for k, v in given.items()})
    return out


def spark_session(master: str | None = None) -> Any:
    """The ``SparkSession`` on ``master`` (else ``$PERSONALIZATION_SPARK_MASTER``, else
    ``local[*]``); an active session is reused as it is."""
    require_spark()
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None:
        return active
    builder = SparkSession.builder.appName("personalization").master(
        master or os.environ.get("PERSONALIZATION_SPARK_MASTER") or DEFAULT_MASTER
    )
    for key, value in settings().items():
        builder = builder.config(key, value)
    return builder.getOrCreate()

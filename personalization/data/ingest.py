"""Read, map, validate, clean and load a CSV or Parquet file into a canonical table.

``inspect_file`` looks at a file without loading it (delimiter, columns, a preview, suggested
column roles) and raises ``BadInputError`` for files that cannot be loaded (empty, binary, header
only, wrong delimiter, duplicate column names). ``ingest_file`` loads it into DuckDB in one
transaction and returns an ``IngestReport`` of rows read, loaded, rejected (with line and reason)
and duplicates dropped. The file is streamed by DuckDB, never read into pandas at once.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import re
import zlib
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from personalization import store
from personalization.errors import BadInputError
from personalization.progress import Progress, report
from personalization.store import loading

if TYPE_CHECKING:
    import pandas as pd

KINDS = ("events", "users", "items", "customers")
ROLES = {
    "events": ("user_id", "item_id", "event_type", "timestamp", "value", "session_id"),
    "users": ("user_id",),
    "items": ("item_id",),
    "customers": (),
}
REQUIRED = {
    "events": ("user_id", "item_id", "event_type"),
    "users": ("user_id",),
    "items": ("item_id",),
    "customers": (),
}
SYNONYMS = {
    "user_id": (
        "userid",
        "user",
        "customerid",
        "customer",
        "visitorid",
        "visitor",
        "clientid",
        "client",
        "memberid",
        "accountid",
        "uid",
    ),
    "item_id": (
        "itemid",
        "item",
        "productid",
        "product",
        "stockcode",
        "sku",
        "movieid",
        "articleid",
        "asin",
        "contentid",
        "pid",
    ),
    "timestamp": (
        "timestamp",
        "eventtime",
        "invoicedate",
        "datetime",
        "time",
        "ts",
        "date",
        "createdat",
        "eventdate",
        "orderdate",
    ),
    "event_type": ("eventtype", "event", "action", "type", "interaction", "behavior", "behaviour"),
    "value": ("value", "rating", "quantity", "qty", "price", "amount", "revenue", "score"),
    "session_id": ("sessionid", "session", "usersession"),
}
ATTRIBUTES = {
    "items": ("title", "description", "category", "brand", "price"),
    "users": ("country", "device", "location", "segment", "age", "gender"),
}
ATTRIBUTE_KEYS = {"items": "item_id", "users": "user_id"}
ATTRIBUTE_PREFIXES = {"item.": "items", "user.": "users"}
ATTRIBUTE_SYNONYMS = {
    "title": (
        "title",
        "producttitle",
        "productname",
        "itemname",
        "name",
        "description",
        "productdescription",
        "itemdescription",
    ),
    "description": ("description", "productdescription", "itemdescription", "details"),
    "category": ("category", "productcategory", "categoryname", "department", "genre"),
    "brand": ("brand", "brandname", "manufacturer"),
    "price": ("price", "unitprice", "listprice", "itemprice", "productprice"),
    "country": ("country", "countryname", "countrycode"),
    "device": ("device", "devicetype", "platform"),
    "location": ("location", "city", "region", "state"),
    "segment": ("segment", "customersegment", "usersegment", "tier"),
    "age": ("age", "customerage", "userage"),
    "gender": ("gender", "sex"),
}
ATTRIBUTE_LABELS = {
    "title": "Product names",
    "description": "Product descriptions",
    "category": "Product categories",
    "brand": "Brands",
    "price": "Prices",
    "country": "Customer countries",
    "device": "Customer devices",
    "location": "Customer locations",
    "segment": "Customer segments",
    "age": "Customer ages",
    "gender": "Customer genders",
}
KIND_HELP = {
    "events": "One row per action: who (user), on what (item), what they did (event type), when.",
    "users": "One row per customer with attributes such as device, location or segment.",
    "items": "One row per product with attributes such as title, category or price.",
    "customers": "One row per customer with features and an outcome to predict (e.g. converted).",
}
ROLE_HELP = {
    "user_id": "The customer id column.",
    "item_id": "The product (or content) id column.",
    "event_type": "What happened: view, click, add_to_cart, purchase, rating, …",
    "timestamp": "When it happened. Dates, ISO text and Unix seconds are all understood.",
    "value": "A number that goes with the event: a rating, revenue, quantity or dwell time.",
    "session_id": "Groups events of one visit (optional).",
    "title": "Product names: shown in recommendation lists and reasons instead of codes.",
    "price": "Stored per product as the median of its prices in the file.",
}
PREVIEW_ROWS = 20
SNIFF_BYTES = 1 << 20
DELIMITERS = (",", ";", "|", "\t")
BINARY_MAGIC = {
    b"PK\x03\x04": "a zip archive (an Excel .xlsx file?)",
    b"\xd0\xcf\x11\xe0": "an old Excel .xls / Office file",
    b"%PDF": "a PDF document",
    b"\x89PNG": "a PNG image",
    b"\xff\xd8\xff": "a JPEG image",
    b"SQLite format": "an SQLite database",
}


@dataclass
class FileInfo:
    """What ``inspect_file`` found: delimiter (None for Parquet), header columns, first rows
    (``rows``, as tuples; ``preview`` as a DataFrame)."""

    name: str
    delimiter: str | None
    columns: list[str]
    rows: list[tuple]
    suggested: dict[str, str]
    fmt: str = "csv"
    encoding: str = "utf-8"
    notes: list[str] = field(default_factory=list)
    header: bool = True  # False: the first line is data; columns are named column1, column2, ...

    @property
    def preview(self) -> pd.DataFrame:
        """The first rows as a DataFrame (pandas is imported here, when a page shows them: a
        load from the command line never needs it, and its import is a third of a small load)."""
        import pandas as pd

        return pd.DataFrame(self.rows, columns=self.columns)


@dataclass
class IngestReport:
    """Outcome of one load; ``rows_read == rows_loaded + rows_rejected + duplicates_dropped``."""

    table: str
    rows_read: int
    rows_loaded: int
    rows_rejected: int
    duplicates_dropped: int
    rejects: list[dict]
    flagged: dict
    mapping: dict
    notes: list[str] = field(default_factory=list)
    reject_summary: list[dict] = field(default_factory=list)
    items_updated: int | None = None  # ids given attributes; None when none were mapped
    users_updated: int | None = None

    def to_dict(self) -> dict:
        """The report as JSON-ready data; ``items_updated`` / ``users_updated`` only when
        attributes of that table were mapped."""
        return {k: v for k, v in asdict(self).items() if v is not None}


def _norm(name: str) -> str:
    return re.sub(r"[\s_\-.]+", "", str(name)).lower()


def suggest_mapping(columns: list[str], kind: str) -> dict[str, str]:
    """Role -> column for the roles of ``kind`` whose column can be guessed from its name.

    A column named after the role wins; then the synonyms, in order (case, ``_``, ``-`` and
    spaces ignored). Each column serves at most one role. For events it also proposes item and
    user attributes (``title`` for Description, ``price`` for UnitPrice, ``country``, ...) from
    the columns no role took; ``ingest_file`` applies those only when they are passed in
    ``mapping`` (the Data page pre-fills them).
    """
    out = _suggest_roles(columns, kind)
    if kind == "events":
        out.update(_suggest_attributes(columns, set(out.values())))
    return out


def _suggest_attributes(columns: list[str], used: set[str]) -> dict[str, str]:
    by_norm: dict[str, str] = {}
    for col in columns:
        if col not in used:
            by_norm.setdefault(_norm(col), col)
    out: dict[str, str] = {}
    for name, aliases in ATTRIBUTE_SYNONYMS.items():
        col = next((by_norm[a] for a in aliases if a in by_norm), None)
        if col is not None and col not in out.values():
            out[name] = col
    return out


def _suggest_roles(columns: list[str], kind: str) -> dict[str, str]:
    _check_kind(kind)
    by_norm: dict[str, str] = {}
    for col in columns:
        by_norm.setdefault(_norm(col), col)
    out: dict[str, str] = {}
    used: set[str] = set()
    for role in ROLES[kind]:
        if role in columns:
            out[role] = role
            used.add(role)
    for role in ROLES[kind]:
        if role in out:
            continue
        for alias in (_norm(role),) + SYNONYMS[role]:
            col = by_norm.get(alias)
            if col is not None and col not in used:
                out[role] = col
                used.add(col)
                break
    return out


NUMBER = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?")
EPOCH_SECONDS = (631_152_000, 4_102_444_800)  # 1990-01-01 .. 2100-01-01, as Unix seconds
OUTCOME_NAMES = ("converted", "conversion", "revenue", "target", "label", "churn", "purchased")


def guess_kind(info: FileInfo) -> str:
    """What the inspected file most likely holds, one of ``KINDS``.

    Events when columns for both a user and an item are found (by name, or by content in a
    file without a header line); items with an item column only; a table with neither, or with
    a user column and an outcome column (``Revenue``, ``converted``, ...), is one row per
    customer to learn conversion from (customers); a user column alone describes users.
    """
    if info.header:
        roles = _suggest_roles(info.columns, "events")
    else:
        roles = suggest_by_content(info.preview, "events")
    has_outcome = any(_norm(c) in OUTCOME_NAMES for c in info.columns)
    if "user_id" in roles and "item_id" in roles:
        return "events"
    if "item_id" in roles:
        return "items"
    if "user_id" in roles and not has_outcome:
        return "users"
    return "customers"


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise BadInputError(f"Unknown kind {kind!r}; use one of: {', '.join(KINDS)}")


# --------------------------------------------------------------------------- inspecting a file


def _head_bytes(path: Path) -> bytes:
    opener = gzip.open if path.suffix.lower() == ".gz" else open
    try:
        with opener(path, "rb") as fh:
            return fh.read(SNIFF_BYTES)
    except (gzip.BadGzipFile, EOFError, OSError) as exc:
        raise BadInputError(
            f"{path.name} cannot be read as a gzip file ({exc}); "
            f"give the uncompressed CSV or a valid .gz"
        ) from exc


def _is_parquet(path: Path, head: bytes) -> bool:
    return path.suffix.lower() in (".parquet", ".pq") or head[:4] == b"PAR1"


def _check_text(label: str, head: bytes) -> str:
    """The encoding to read with; raise for empty and binary content."""
    if not head.strip():
        raise BadInputError(f"{label} is empty; choose a CSV file with a header line and rows")
    if head.startswith(b"\x1f\x8b"):
        raise BadInputError(
            f"{label} is gzip-compressed but its name does not end in .gz; "
            f"rename it to end in .csv.gz and load it again"
        )
    for magic, what in BINARY_MAGIC.items():
        if head.startswith(magic):
            raise BadInputError(
                f"{label} is not a CSV file: it looks like {what}; "
                f"save it as CSV (UTF-8) or Parquet and load that"
            )
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "utf-16"
    sample = head[:8192]
    controls = sum(b < 32 and b not in (9, 10, 13) for b in sample)
    if b"\x00" in sample or controls > len(sample) * 0.05:
        raise BadInputError(
            f"{label} is not a text CSV file (it holds binary data); "
            f"save it as CSV (UTF-8) or Parquet and load that"
        )
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 4:
            return "latin-1"
    return "utf-8"


def _decode(head: bytes, encoding: str) -> str:
    return head.decode("utf-8-sig" if encoding == "utf-8" else encoding, errors="ignore")


def _header(text: str, sep: str) -> list[str]:
    first = next(csv.reader(io.StringIO(text, newline=""), delimiter=sep), [])
    return [c.strip() for c in first]


def _wrong_delimiter(label: str, text: str, sep: str, given: bool) -> None:
    """One column but another delimiter would split it into several: say which."""
    lines = [ln for ln in text.splitlines()[:50] if ln.strip()]
    for cand in DELIMITERS:
        if cand == sep:
            continue
        counts = {len(next(csv.reader([ln], delimiter=cand))) for ln in lines[:20]}
        if len(counts) == 1 and counts.pop() > 1:
            how = f"with --sep {sep!r}" if given else "with the sniffed delimiter"
            shown = "\\t" if cand == "\t" else cand
            raise BadInputError(
                f"{label}: every line lands in one column {how}, while {shown!r} splits it into "
                f"{len(next(csv.reader([lines[0]], delimiter=cand)))} columns; "
                f"load it with --sep '{shown}'"
            )


def _check_columns(label: str, columns: list[str]) -> None:
    dupes = [c for c, n in Counter(columns).items() if n > 1]
    if dupes:
        raise BadInputError(
            f"{label} has duplicate column names: {', '.join(repr(d) for d in dupes)}; rename "
            f"them in the header so that each is unique, then load it again"
        )
    empty = [i + 1 for i, c in enumerate(columns) if not c]
    if empty:
        raise BadInputError(
            f"{label} has columns without a name (position "
            f"{', '.join(map(str, empty))}); give every column a header name"
        )


def inspect_file(
    path, kind: str = "events", sep: str | None = None, source_name: str | None = None
) -> FileInfo:
    """Delimiter, columns, the first rows and suggested roles of a CSV (.gz too) or Parquet file.

    Raises ``BadInputError`` naming the file (``source_name`` when given), the problem and the
    fix for: a missing, empty, binary or header-only file, the wrong delimiter, duplicate names.
    """
    _check_kind(kind)
    path = Path(path)
    label = source_name or path.name
    if not path.is_file():
        raise BadInputError(f"{label} does not exist or is not a file; check the path")
    head = _head_bytes(path)
    if _is_parquet(path, head):
        return _inspect_parquet(path, label, kind)
    encoding = _check_text(label, head)
    text = _decode(head, encoding)
    if sep is not None and len(sep.encode()) != 1 and sep != "\\t":
        raise BadInputError(f"--sep takes one character; got {sep!r}, e.g. --sep ';'")
    sep = "\t" if sep == "\\t" else sep
    delimiter = sep or _guess_delimiter(text)
    columns = _header(text, delimiter)
    if len(columns) <= 1:
        _wrong_delimiter(label, text, delimiter, given=sep is not None)
    header = not looks_like_data(columns, _first_rows(text, delimiter))
    if header:
        _check_columns(label, columns)
    else:
        first, columns = columns, [f"column{i + 1}" for i in range(len(columns))]
    rows = loading.preview_csv(str(path), delimiter, encoding, PREVIEW_ROWS, header, len(columns))
    if not rows:
        raise BadInputError(
            f"{label} has a header ({', '.join(columns[:8])}) but no rows; "
            f"choose a file with data rows"
        )
    notes = [f"{label} is not valid UTF-8; it is read as Latin-1."] if encoding == "latin-1" else []
    info = FileInfo(label, delimiter, columns, rows, {}, "csv", encoding, notes, header=header)
    if header:
        info.suggested = suggest_mapping(columns, kind)
    else:
        info.suggested = suggest_by_content(info.preview, kind)
        notes.append(
            f"{label} has no header line: its first line is data ({', '.join(first[:5])}), so it "
            f"is loaded as a row and the columns are named column1 to column{len(columns)}. "
            f"Check the suggested roles against the preview."
        )
    return info


def looks_like_data(cells: list[str], rows: list[list[str]]) -> bool:
    """True when a first line reads as a data row, not as column names: at least half of its
    cells (and two or more) are numbers, which column names almost never are, and each of its
    text cells recurs as a value of its column in the following ``rows`` (``pv`` in a column of
    event types; not ``store`` above a column of store names)."""
    numbers = [bool(NUMBER.fullmatch(c.strip())) for c in cells]
    if sum(numbers) < 2 or sum(numbers) * 2 < len(cells):
        return False
    below = [{r[i].strip() for r in rows if i < len(r)} for i in range(len(cells))]
    return all(n or c.strip() in seen for c, n, seen in zip(cells, numbers, below, strict=True))


def _first_rows(text: str, sep: str, limit: int = 200) -> list[list[str]]:
    """The lines after the first one, split (at most ``limit``; a cut last line left out)."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=sep)
    rows: list[list[str]] = []
    try:
        rows.extend(r for _, r in zip(range(limit + 1), reader, strict=False))
    except csv.Error:  # a field past csv's limit: the lines read so far do
        pass
    return rows[1:-1] if len(rows) > 2 else rows[1:]


def suggest_by_content(preview: pd.DataFrame, kind: str) -> dict[str, str]:
    """Role -> column guessed from the values of a file without a header line: a column of
    dates or Unix times (seconds or milliseconds) is the timestamp, a short text column with few
    distinct values the event type, and the first other columns, in file order, the user and
    the item ids (``ROLES[kind]`` order). Only roles of ``kind`` are proposed."""
    out: dict[str, str] = {}
    free = list(preview.columns)
    roles = ROLES[kind]
    for column in list(free):
        values = preview[column].dropna().astype(str).str.strip()
        if values.empty:
            continue
        if "timestamp" in roles and "timestamp" not in out and _looks_like_time(values):
            out["timestamp"] = column
        elif (
            "event_type" in roles
            and "event_type" not in out
            and not values.str.fullmatch(NUMBER.pattern).any()
            and values.str.len().max() <= 30
            and values.nunique() <= max(5, len(values) // 4)
        ):
            out["event_type"] = column
        else:
            continue
        free.remove(column)
    for role in ("user_id", "item_id"):
        if role in roles and free:
            out[role] = free.pop(0)
    return out


def _looks_like_time(values: pd.Series) -> bool:
    import pandas as pd

    numbers = pd.to_numeric(values, errors="coerce")
    if numbers.notna().all():
        seconds = numbers.where(numbers < 1e11, numbers / 1000)
        return bool(seconds.between(EPOCH_SECONDS[0], EPOCH_SECONDS[1]).all())
    dates = pd.to_datetime(values, errors="coerce", format="mixed")
    return bool(dates.notna().all())


def _guess_delimiter(text: str) -> str:
    """The candidate that splits the header into most columns, consistently over the first rows."""
    best, best_score = ",", (0.0, 1)
    for cand in DELIMITERS:
        try:
            rows = [
                r
                for _, r in zip(
                    range(200),
                    csv.reader(io.StringIO(text, newline=""), delimiter=cand),
                    strict=False,
                )
            ]
        except csv.Error:
            continue
        rows = [r for r in rows[:-1] or rows if r]
        if not rows or len(rows[0]) < 2:
            continue
        width = len(rows[0])
        score = (sum(len(r) == width for r in rows) / len(rows), width)
        if score > best_score:
            best, best_score = cand, score
    return best


def _inspect_parquet(path: Path, label: str, kind: str) -> FileInfo:
    try:
        columns = [name for name, _ in loading.parquet_schema(str(path))]
        rows = loading.preview_parquet(str(path), PREVIEW_ROWS)
    except Exception as exc:  # noqa: BLE001 - DuckDB raises several types for corrupt files
        raise BadInputError(
            f"{label} cannot be read as Parquet ({str(exc).strip().splitlines()[0][:200]}); "
            f"export it again as Parquet or CSV"
        ) from exc
    _check_columns(label, columns)
    if not rows:
        raise BadInputError(f"{label} has columns ({', '.join(columns[:8])}) but no rows")
    return FileInfo(label, None, columns, rows, suggest_mapping(columns, kind), "parquet")


# --------------------------------------------------------------------------- loading a file


def _file_hash(path: Path) -> str:
    """Size, mtime and a sha256 of the first MB: cheap and good enough to spot a changed file."""
    stat = path.stat()
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        digest.update(fh.read(SNIFF_BYTES))
    return f"{stat.st_size}-{int(stat.st_mtime)}-{digest.hexdigest()[:16]}"


def check_gzip(path: Path, label: str) -> None:
    """Read a ``.gz`` file to its end, so that a truncated or damaged one is refused before
    anything is stored (a reader can otherwise stop early at the damage and load part of it).
    Streams 1 MB at a time; costs one decompression of the file."""
    if path.suffix.lower() != ".gz":
        return
    try:
        with gzip.open(path, "rb") as fh:
            while fh.read(1 << 20):
                pass
    except (gzip.BadGzipFile, EOFError, OSError, zlib.error) as exc:
        raise BadInputError(
            f"{label} is a damaged or truncated gzip file ({exc}); nothing was stored. "
            f"Copy or download it again, or give the uncompressed CSV"
        ) from exc


def _resolve_mapping(
    info: FileInfo, kind: str, mapping: dict[str, str] | None, constants: dict[str, str] | None
) -> tuple[dict[str, str], dict[str, str]]:
    roles = ROLES[kind]
    for role in list(mapping or {}) + list(constants or {}):
        if role not in roles:
            allowed = ", ".join(roles) or "none (customers tables keep their columns as they are)"
            raise BadInputError(f"{role!r} is not a role of a {kind} table; roles: {allowed}")
    unmapped = {role for role, col in (mapping or {}).items() if not col}
    mapping = {role: col for role, col in (mapping or {}).items() if col}
    for role, col in mapping.items():
        if col not in info.columns:
            raise BadInputError(
                f"{info.name} has no column {col!r} for --map {role}={col}; "
                f"found: {', '.join(info.columns)}"
            )
    suggested = {r: c for r, c in info.suggested.items() if r in roles}
    resolved = {r: c for r, c in {**suggested, **mapping}.items() if r not in unmapped}
    constants = dict(constants or {})
    for role in constants:
        resolved.pop(role, None)
    taken = Counter(resolved.values())
    clash = [c for c, n in taken.items() if n > 1]
    if clash:
        roles_of = [r for r, c in resolved.items() if c == clash[0]]
        raise BadInputError(
            f"column {clash[0]!r} of {info.name} is mapped to several roles "
            f"({', '.join(roles_of)}); map each role to its own column"
        )
    if kind == "events" and "event_type" not in resolved and "event_type" not in constants:
        if is_rating_column(resolved.get("value", "")):
            constants["event_type"] = "rating"
            info.notes.append(
                f"{info.name} has no event-type column and its {resolved['value']!r} column holds "
                f"ratings, so every row is a rating event (--set event_type=TYPE to choose)."
            )
    for role in REQUIRED[kind]:
        if role not in resolved and role not in constants:
            raise BadInputError(_missing_role(info, kind, role))
    return resolved, constants


def is_rating_column(name: str) -> bool:
    """Whether a value column's name says it holds ratings (``rating``, ``stars``)."""
    return any(word in name.lower() for word in ("rating", "stars"))


def _missing_role(info: FileInfo, kind: str, role: str) -> str:
    found = ", ".join(info.columns)
    fix = f"map one with --map {role}=COLUMN"
    if role == "event_type":
        fix += " or give every row the same type with --set event_type=purchase"
    other = {"item_id": "users", "user_id": "items"}.get(role) if kind == "events" else None
    if other and set(REQUIRED[other]) <= set(_suggest_roles(info.columns, other)):
        fix += f"; or, if it describes {other} rather than events, load it with --kind {other}"
    elif kind == "events" and guess_kind(info) == "customers":
        fix += (
            "; or, if it holds one row per customer or visit with an outcome (no events), "
            "load it as customers (--kind customers) to train a conversion model on it"
        )
    article = "an" if kind[0] in "aeiou" else "a"
    return (
        f"{info.name} has no column for {role} (needed in {article} {kind} table); "
        f"found: {found}; {fix}"
    )


def _plan_columns(
    info: FileInfo, kind: str, resolved: dict[str, str], path: Path
) -> list[loading.Column]:
    """One ``Column`` per file column: role, table name, and the type to read it as."""
    role_of = {col: role for role, col in resolved.items()}
    sniffed = {}
    if info.fmt == "csv":
        types = loading.sniff_csv(str(path), info.delimiter, info.encoding)["types"]
        if len(types) == len(info.columns):
            sniffed = {col: t for col, (_, t) in zip(info.columns, types, strict=True)}
    out = []
    for col in info.columns:
        role = role_of.get(col)
        name = role or (f"{col}_original" if col in ROLES[kind] else col)
        read_type = _read_type(role, sniffed.get(col, "VARCHAR"))
        whole = read_type == "BIGINT" and role is None and info.fmt == "csv"
        if whole:  # read as text: a leading zero late in the file decides (see loading)
            read_type = "VARCHAR"
        out.append(loading.Column(col, name, role, read_type, whole and not _is_id_name(col)))
    return out


def _is_id_name(column: str) -> bool:
    """Whether a column's name says it holds ids or codes (``customer_id``, ``CustomerID``,
    ``StockCode``, ``zip``): those stay text whatever their values look like."""
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", column).lower()
    words = re.split(r"[^a-z0-9]+", spaced)
    return bool(words) and words[-1] in ID_WORDS


ID_WORDS = ("id", "key", "code", "zip", "zipcode", "postcode", "sku", "ean", "upc")


def _read_type(role: str | None, sniffed: str) -> str:
    """Ids and labels as text; time and value as sniffed when typed; booleans as written."""
    if role in ("user_id", "item_id", "event_type", "session_id"):
        return "VARCHAR"
    if role == "value":
        return "DOUBLE" if sniffed in loading.NUMERIC_TYPES else "VARCHAR"
    if role == "timestamp":
        return sniffed if sniffed in ("TIMESTAMP", "BIGINT") else "VARCHAR"
    if sniffed in ("BIGINT", "DOUBLE", "DATE", "TIMESTAMP", "TIME"):
        return sniffed
    return "VARCHAR"


def ingest_file(
    path,
    kind: str = "events",
    mapping: dict[str, str] | None = None,
    constants: dict[str, str] | None = None,
    sep: str | None = None,
    timestamp_format: str | None = None,
    table: str | None = None,
    mode: str = "append",
    source_name: str | None = None,
    db=None,
    progress: Progress = None,
) -> IngestReport:
    """Load a CSV (.gz too) or Parquet file into ``table`` (default: the kind's table).

    ``mapping`` is role -> column (overrides the suggestions; an empty column leaves a suggested
    role unmapped), ``constants`` role -> value for
    every row. ``mode`` "append" adds to an existing table (new columns are added, missing ones
    are NULL), "replace" swaps it. Exact duplicate rows are dropped and counted; rows missing a
    required id or with an unreadable timestamp are rejected (first 20 listed with line and
    reason); negative values are kept and counted in ``flagged``. Loads of a million rows or
    more are written in parallel blocks whose order may differ from the file's (sort by
    timestamp when order matters). Raises ``BadInputError`` for a file that cannot be loaded,
    leaving stored data untouched; ``AmbiguousDatesError`` (a ``BadInputError``) when the dates
    read both day-first and month-first (``date_order_choice`` gives the two formats).

    For events, ``mapping`` may also name item attributes (``title``, ``description``,
    ``category``, ``brand``, ``price``, ``item.NAME``) and user attributes (``country``,
    ``device``, ``location``, ``segment``, ``age``, ``gender``, ``user.NAME``): they fill or
    update the ``items`` / ``users`` tables in the same transaction, one row per id with the most
    recent non-empty value of each (by timestamp), the price as the median of the id's prices
    (see ``store.attributes``). Suggested attributes are applied only when passed here.
    The report's ``reject_summary`` counts every rejected row by reason, with the fix.
    """
    _check_kind(kind)
    if mode not in ("append", "replace"):
        raise BadInputError(f"--mode must be append or replace; got {mode!r}")
    table = store.check_data_table_name(table or kind)
    report(progress, 0.0, "inspecting the file")
    path = Path(path)
    check_gzip(path, source_name or path.name)
    info = inspect_file(path, kind=kind, sep=sep, source_name=source_name)
    mapping, wanted = _split_attributes(kind, mapping)
    resolved, constants = _resolve_mapping(info, kind, mapping, constants)
    columns = _plan_columns(info, kind, resolved, path)
    attributes = _attribute_sets(info, table, wanted, columns)
    plan = loading.LoadPlan(
        path=str(path),
        label=info.name,
        fmt=info.fmt,
        table=table,
        kind=kind,
        mode=mode,
        columns=columns,
        constants=constants,
        roles=ROLES[kind],
        required=REQUIRED[kind],
        delimiter=info.delimiter or ",",
        encoding=info.encoding,
        header=info.header,
        timestamp_format=timestamp_format,
        file_hash=_file_hash(path),
        mapping={
            **resolved,
            **{k: f"={v}" for k, v in constants.items()},
            **{k: v for named in wanted.values() for k, v in named.items()},
        },
        attributes=attributes,
    )
    result = loading.load(plan, db=db, progress=progress)
    updated = result.attributes_updated
    return IngestReport(
        table=table,
        rows_read=result.rows_read,
        rows_loaded=result.rows_loaded,
        rows_rejected=result.rows_rejected,
        duplicates_dropped=result.duplicates_dropped,
        rejects=result.rejects,
        flagged=result.flagged,
        mapping=plan.mapping,
        notes=info.notes
        + [n for n in result.notes if n not in info.notes]
        + _attribute_hint(info, kind, wanted),
        reject_summary=summarise_rejects(result.reject_counts, result.flagged, resolved),
        items_updated=updated.get("items"),
        users_updated=updated.get("users"),
    )


# --------------------------------------------------------------------------- attributes


def _split_attributes(
    kind: str, mapping: dict[str, str] | None
) -> tuple[dict[str, str], dict[str, dict[str, str]]]:
    """Roles apart from attributes: ``({role: column}, {table: {attribute: column}})``.

    An attribute is a name of ``ATTRIBUTES`` or ``item.NAME`` / ``user.NAME``; an empty column
    leaves it out. Raises ``BadInputError`` for attributes outside an events file.
    """
    roles: dict[str, str] = {}
    wanted: dict[str, dict[str, str]] = {}
    for key, col in (mapping or {}).items():
        table, name = _attribute_of(key)
        if table is None or key in ROLES[kind]:
            roles[key] = col
        elif kind != "events":
            raise BadInputError(
                f"{key!r} is an attribute taken from an events file (--kind events); a {kind} "
                f"file keeps its columns under their own names, so rename the column in the file"
            )
        elif col:
            wanted.setdefault(table, {})[name] = col
    return roles, wanted


def _attribute_of(key: str) -> tuple[str | None, str]:
    """(table, attribute) of a mapping key, or (None, key) when it is not an attribute."""
    for prefix, table in ATTRIBUTE_PREFIXES.items():
        if key.startswith(prefix):
            name = key[len(prefix) :].strip()
            if not name or name == ATTRIBUTE_KEYS[table]:
                raise BadInputError(
                    f"--map {key}=COLUMN needs an attribute name after {prefix!r} other than "
                    f"{ATTRIBUTE_KEYS[table]}, e.g. --map {prefix}colour=Colour"
                )
            return table, name
    table = next((t for t, names in ATTRIBUTES.items() if key in names), None)
    return table, key


def _attribute_sets(
    info: FileInfo, table: str, wanted: dict[str, dict[str, str]], columns: list[loading.Column]
) -> list[store.AttributeSet]:
    """One ``AttributeSet`` per table named in ``wanted``, with staging column names."""
    staged = {c.source: c.name for c in columns}
    out = []
    for target, named in wanted.items():
        if target == table:
            raise BadInputError(
                f"the events of {info.name} are loaded into {table!r}, which is also where its "
                f"{target} attributes would go; load the events into another table (--table)"
            )
        for name, col in named.items():
            if col not in staged:
                raise BadInputError(
                    f"{info.name} has no column {col!r} for --map {name}={col}; "
                    f"found: {', '.join(info.columns)}"
                )
        key = ATTRIBUTE_KEYS[target]
        out.append(store.AttributeSet(target, key, {n: staged[c] for n, c in named.items()}))
    return out


def _attribute_hint(info: FileInfo, kind: str, wanted: dict) -> list[str]:
    """A note naming the attribute columns found but not mapped (the CLI applies none unasked)."""
    if kind != "events" or wanted:
        return []
    found = {n: c for n, c in info.suggested.items() if _attribute_of(n)[0]}
    if not found:
        return []
    flags = " ".join(f"--map {n}={c}" for n, c in found.items())
    return [
        f"{info.name} also holds product or customer attributes; add {flags} to fill the items "
        f"and users tables (products then show names in lists and reasons)."
    ]


# --------------------------------------------------------------------------- the load report

ROLE_WORDS = {
    "user_id": "customer id",
    "item_id": "product id",
    "event_type": "event type",
    "session_id": "session id",
    "timestamp": "date/time",
}
FIXES = {
    "user_id": "These rows name no customer (often guest checkouts), so they cannot be "
    "personalised. To keep them, map another id column (--map user_id=COLUMN) or fill the id "
    "in the file.",
    "item_id": "These rows name no product, so nothing can be learned or recommended from them. "
    "Fill the id in the file, or map another column (--map item_id=COLUMN).",
    "event_type": "Fill the type in the file, or give every row one type "
    "(--set event_type=purchase).",
    "bad_timestamp": "The lines listed below show examples. Fix those dates in the file, or give "
    "the format (--timestamp-format, e.g. '%d/%m/%Y %H:%M').",
    "malformed": "Usually a separator or a quote inside a value. Put quotes around such values "
    "(or fix the separator) in those lines and load again; the other rows are loaded.",
    "bad_type": "Fix or clear those values in the file and load again.",
    "other": "Check those lines in the file (listed below) and load again.",
    "negative_value": "Usually returns or cancellations. They are kept in the events table; "
    "recommenders do not count a purchase with a negative value as a purchase (it weighs "
    "nothing), so a returned product is not pushed. Nothing to do unless they are not returns.",
    "value_not_a_number": "These rows are kept without a value (a rating without a value weighs "
    "nothing). If the values matter, fix them in the file (e.g. remove currency signs).",
}


def summarise_rejects(counts: list[dict], flagged: dict, mapping: dict[str, str]) -> list[dict]:
    """Every rejected row by reason, then the flagged ones: ``{reason, rows, fix}`` each, the
    fix in plain words. ``counts`` are ``LoadResult.reject_counts``; ``flagged`` the kept-but-
    flagged counts (negative values, values that are not numbers); ``mapping`` role -> column."""
    out = []
    for c in counts:
        column = f" (column {c['column']!r})" if c.get("column") else ""
        cause, role = c["cause"], c.get("role")
        if cause == "missing":
            reason, fix = f"missing {ROLE_WORDS.get(role, role)}{column}", FIXES.get(role)
        elif cause == "bad_timestamp":
            reason, fix = f"date/time not readable{column}", FIXES[cause]
        elif cause == "malformed":
            reason, fix = "line does not match the header (wrong number of fields)", FIXES[cause]
        elif cause == "bad_type":
            reason, fix = f"value does not fit its column{column}", FIXES[cause]
        else:
            reason, fix = f"unreadable line ({cause})", FIXES["other"]
        out.append({"reason": reason, "rows": int(c["rows"]), "fix": fix or FIXES["other"]})
    column = f" in {mapping['value']!r}" if mapping.get("value") else ""
    words = {
        "negative_value": f"negative values{column} (rows kept)",
        "value_not_a_number": f"values{column} that are not numbers (rows kept)",
    }
    for key, n in (flagged or {}).items():
        if n and key in words:
            out.append({"reason": words[key], "rows": int(n), "fix": FIXES[key]})
    return out


def date_order_choice(error: loading.AmbiguousDatesError) -> dict:
    """What a page needs to let the user settle an ``AmbiguousDatesError``: ``column``,
    ``examples`` (each ``{"In the file", "Read day first", "Read month first"}``, dates written
    out) and ``choices``, label -> ``timestamp_format``:
    ``{"day first (31/01/2024)": "%d/%m/%Y %H:%M", "month first (01/31/2024)": ...}``."""
    day = datetime(2024, 1, 31)
    return {
        "column": error.column,
        "examples": [
            {
                "In the file": e["value"],
                "Read day first": f"{e['day_first']:%d %B %Y}",
                "Read month first": f"{e['month_first']:%d %B %Y}",
            }
            for e in error.examples
        ],
        "choices": {
            f"day first ({day.strftime(error.day_first.split(' ')[0])})": error.day_first,
            f"month first ({day.strftime(error.month_first.split(' ')[0])})": error.month_first,
        },
    }


def describe_attributes(report: dict) -> str | None:
    """One sentence on the products and customers that got attributes from a load (``report`` as
    ``IngestReport.to_dict``), e.g. "3,684 products got names or attributes (title, price)."."""
    parts = []
    for key, table, what in (
        ("items_updated", "items", "products got names or attributes"),
        ("users_updated", "users", "customers got attributes"),
    ):
        if key in report:
            names = [k for k in report.get("mapping", {}) if _attribute_of(k)[0] == table]
            parts.append(f"{report[key]:,} {what} ({', '.join(names)})")
    return "; ".join(parts) + "." if parts else None


AmbiguousDatesError = loading.AmbiguousDatesError

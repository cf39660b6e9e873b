"""Cut a small real subset of the UCI Online Retail data into ``online_retail_sample.csv``.

Run ``python sample_data/subset_online_retail.py [SOURCE]``; SOURCE defaults to
``../shared/data/online-retail/online_retail.csv.gz``. Every line of 300 customers (drawn with a
fixed seed among customers with 5 to 40 lines, so the file stays a few thousand rows) is copied
byte for byte, header first, in the original order: float-text ids, cancellations, quotes and
``£`` stay as they are in the source.

Data: UCI Online Retail, CC BY 4.0; Chen, Sain and Guo (2012), Journal of Database Marketing and
Customer Strategy Management 19(3).
"""

from __future__ import annotations

import csv
import gzip
import sys
from collections import Counter
from pathlib import Path

import numpy as np

SEED = 2012
N_CUSTOMERS = 300
MIN_LINES, MAX_LINES = 5, 40
HERE = Path(__file__).resolve().parent
SOURCE = HERE.parent.parent / "shared" / "data" / "online-retail" / "online_retail.csv.gz"
TARGET = HERE / "online_retail_sample.csv"


def read_lines(source: Path) -> tuple[str, list[str]]:
    """The header and the data lines of the (gzipped) CSV, line endings kept."""
    with gzip.open(source, "rt", encoding="utf-8", newline="") as handle:
        header = handle.readline()
        return header, handle.readlines()


def customer_of(lines: list[str], column: int) -> list[str]:
    return [row[column] for row in csv.reader(lines)]


def choose_customers(customers: list[str]) -> set[str]:
    """``N_CUSTOMERS`` ids having ``MIN_LINES`` to ``MAX_LINES`` lines, drawn with ``SEED``."""
    counts = Counter(c for c in customers if c)
    eligible = sorted(c for c, n in counts.items() if MIN_LINES <= n <= MAX_LINES)
    rng = np.random.default_rng(SEED)
    return set(rng.choice(eligible, size=N_CUSTOMERS, replace=False).tolist())


def make_subset(source: Path = SOURCE, target: Path = TARGET) -> int:
    """Write the subset to ``target``; returns the number of data lines written."""
    header, lines = read_lines(source)
    column = next(csv.reader([header])).index("CustomerID")
    customers = customer_of(lines, column)
    chosen = choose_customers(customers)
    kept = [line for line, customer in zip(lines, customers, strict=False) if customer in chosen]
    with target.open("w", encoding="utf-8", newline="") as handle:
        handle.write(header)
        handle.writelines(kept)
    return len(kept)


def main(argv: list[str]) -> None:
    source = Path(argv[0]) if argv else SOURCE
    rows = make_subset(source)
    print(f"{TARGET}: {rows} rows of {N_CUSTOMERS} customers, {TARGET.stat().st_size / 1e6:.2f} MB")


if __name__ == "__main__":
    main(sys.argv[1:])

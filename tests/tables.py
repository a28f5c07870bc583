"""Reading Sluice's tables back: DuckDB (read_parquet, and iceberg_scan with the iceberg
extension loaded from the duckdb-ext-* PyPI packages, so nothing is downloaded) and pyarrow."""

from __future__ import annotations

import os
from pathlib import Path

import duckdb

from helpers import wait_until


def _extension_dir() -> Path:
    import duckdb_ext  # namespace package of duckdb-ext-iceberg / duckdb-ext-avro

    base = Path(list(duckdb_ext.__path__)[0]) / "extensions" / f"v{duckdb.__version__}"
    return next(base.iterdir())  # the one platform directory the wheel ships


def connect() -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with the avro and iceberg extensions loaded from disk."""
    c = duckdb.connect(config={"allow_unsigned_extensions": "true", "autoinstall_known_extensions": "false",
                               "autoload_known_extensions": "false"})
    d = _extension_dir()
    for ext in ("avro", "iceberg"):
        c.execute(f"LOAD '{d / (ext + '.duckdb_extension')}'")
    return c


def table_dir(objects: Path, topic: str) -> Path:
    return objects / "tables" / topic


def iceberg(objects: Path, topic: str) -> str:
    """The iceberg_scan(...) expression for a topic's table (reads metadata/version-hint.text)."""
    return f"iceberg_scan('{table_dir(objects, topic)}')"


def iceberg_count(objects: Path, topic: str) -> int:
    if not (table_dir(objects, topic) / "metadata" / "version-hint.text").exists():
        return 0
    with connect() as c:
        return c.execute(f"select count(*) from {iceberg(objects, topic)}").fetchone()[0]


def wait_for_rows(objects: Path, topic: str, n: int, timeout: float = 120.0) -> None:
    """Polls the table until it holds n rows (the table job commits within the topic's lag)."""
    got = -1

    def counted():
        nonlocal got
        got = iceberg_count(objects, topic)
        return got >= n
    wait_until(f"table {topic} to hold {n} rows", counted, timeout, every=0.3, context=lambda: f"it has {got}")
    assert got == n, f"table {topic} has {got} rows, expected {n}"


def per_partition(c: duckdb.DuckDBPyConnection, source: str) -> dict[int, tuple[int, int, int]]:
    """partition -> (rows, min offset, max offset)."""
    rows = c.execute(f'select "partition", count(*), min("offset"), max("offset") from {source} '
                     f'group by 1 order by 1').fetchall()
    return {p: (n, lo, hi) for p, n, lo, hi in rows}

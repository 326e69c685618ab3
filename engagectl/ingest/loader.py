"""Ingest entry points: files (plain or gzip, globs, `-` for stdin) and in-memory messages.

Each file is one transaction: a file with any bad line loads nothing, and what was loaded before
is never touched. Re-reading a file adds nothing (dedup on `messageId`). The identifiers the
stored messages' documents name are extracted in the same transaction, for the identity run.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from engagectl.diagnostics import Diagnostic
from engagectl.identity.identifiers import extract_document_identifiers
from engagectl.ingest import messages as sql
from engagectl.ingest.report import FileReport, IngestReport
from engagectl.warehouse import Warehouse

STDIN = "-"


def expand_paths(patterns: Iterable[str], base_dir: str | Path = ".") -> list[str]:
    """Globs relative to `base_dir`, in sorted order; `-` stays as stdin; a plain missing path stays
    (so it is reported as missing rather than silently skipped)."""
    paths: list[str] = []
    for pattern in patterns:
        if pattern == STDIN:
            paths.append(STDIN)
            continue
        full = pattern if os.path.isabs(pattern) else str(Path(base_dir) / pattern)
        if glob.has_magic(full):
            paths.extend(sorted(glob.glob(full, recursive=True)))
        else:
            paths.append(full)
    return paths


def ingest_files(warehouse: Warehouse, paths: Iterable[str], source: str = "default") -> IngestReport:
    """Load every file; a file with errors loads nothing and the others still load."""
    report = IngestReport()
    for path in paths:
        report.files.append(_ingest_one(warehouse, path, source))
    return report


def ingest_messages(warehouse: Warehouse, messages: Iterable[dict[str, Any]], source: str = "default",
                    name: str = "<messages>") -> IngestReport:
    """Load messages given as dicts (the tracking API); committed when this returns."""
    with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False, encoding="utf-8") as handle:
        for message in messages:
            handle.write(json.dumps(message, default=str, ensure_ascii=False))
            handle.write("\n")
    try:
        return IngestReport(files=[_load(warehouse, Path(handle.name), name, source)])
    finally:
        os.unlink(handle.name)


def _ingest_one(warehouse: Warehouse, path: str, source: str) -> FileReport:
    if path == STDIN:
        with tempfile.NamedTemporaryFile("wb", suffix=".jsonl", delete=False) as handle:
            shutil.copyfileobj(sys.stdin.buffer, handle)
        try:
            return _load(warehouse, Path(handle.name), "<stdin>", source)
        finally:
            os.unlink(handle.name)
    if not Path(path).is_file():
        report = FileReport(path=path, source=source)
        report.errors.append(Diagnostic(message="no such file", file=path))
        return report
    return _load(warehouse, Path(path), path, source)


def _load(warehouse: Warehouse, path: Path, display: str, source: str) -> FileReport:
    report = FileReport(path=display, source=source)
    try:
        with warehouse.transaction():
            warehouse.load_lines(warehouse.temp_table(sql.LINES), path)
            staged = sql.measure_lines(warehouse)
            report.lines = staged.lines
            if staged.unusable:
                report.errors = [Diagnostic(message=m, file=display, line=n) for n, m in sql.line_problems(warehouse)]
                raise _Refused()
            # Messages with problems are appended too, and found among the appended rows.
            appended = sql.append_messages(warehouse, source, staged)
            problems = sql.problems(warehouse, appended)
            if problems:
                report.errors = [Diagnostic(message=m, file=display, line=n) for n, m in problems]
                sql.remove_appended(warehouse, appended)
                raise _Refused()
            report.loaded = sql.keep_first_copies(warehouse, appended)
            report.duplicates = staged.messages - report.loaded
            extract_document_identifiers(warehouse)
            sql.drop_scratch(warehouse)
    except _Refused:
        report.loaded = report.duplicates = 0
        sql.drop_scratch(warehouse)
    return report


class _Refused(Exception):
    """Rolls the file's transaction back after its errors are recorded."""

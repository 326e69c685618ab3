"""Segment-spec events in: JSON lines (plain or gzip, batch envelopes) or an existing table."""

from engagectl.ingest.loader import expand_paths, ingest_files, ingest_messages
from engagectl.ingest.report import FileReport, IngestReport
from engagectl.ingest.table import ingest_table

__all__ = ["FileReport", "IngestReport", "expand_paths", "ingest_files", "ingest_messages", "ingest_table"]

"""`file`: Segment-spec messages appended to a JSONL file, the embedded default."""

from providers.file.provider import FileProvider as PROVIDER

__all__ = ["PROVIDER"]

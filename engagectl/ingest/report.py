"""What an ingest did: per file, lines read, messages loaded and duplicates skipped, and errors."""

from __future__ import annotations

from dataclasses import dataclass, field

from engagectl.diagnostics import Diagnostic


@dataclass
class FileReport:
    path: str
    source: str
    lines: int = 0
    loaded: int = 0
    duplicates: int = 0
    errors: list[Diagnostic] = field(default_factory=list)


@dataclass
class IngestReport:
    files: list[FileReport] = field(default_factory=list)

    @property
    def lines(self) -> int:
        return sum(f.lines for f in self.files)

    @property
    def loaded(self) -> int:
        return sum(f.loaded for f in self.files)

    @property
    def duplicates(self) -> int:
        return sum(f.duplicates for f in self.files)

    @property
    def errors(self) -> list[Diagnostic]:
        return [error for f in self.files for error in f.errors]

    @property
    def ok(self) -> bool:
        return not self.errors

    def to_json(self) -> dict:
        return {
            "files": len(self.files),
            "lines": self.lines,
            "loaded": self.loaded,
            "duplicates": self.duplicates,
            "errors": [
                {"file": e.file, "line": e.line, "message": e.message} for e in self.errors
            ],
        }

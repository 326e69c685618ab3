"""Diagnostics: the one shape every user-facing problem takes (file:line:col: message)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal


@dataclass(frozen=True)
class Diagnostic:
    """A problem found in the user's input, located in a file when it can be."""

    message: str
    severity: Literal["error", "warning"] = "error"
    file: str | None = None
    line: int | None = None
    column: int | None = None

    def __str__(self) -> str:
        where = ""
        if self.file:
            where = self.file
            if self.line is not None:
                where += f":{self.line}"
                if self.column is not None:
                    where += f":{self.column}"
            where += ": "
        prefix = "" if self.severity == "error" else "warning: "
        return f"{where}{prefix}{self.message}"

    def to_json(self) -> dict:
        """The PRODUCT.md §5 diagnostics shape (column kept as an extra field)."""
        return {
            "severity": self.severity,
            "file": self.file,
            "line": self.line,
            "column": self.column,
            "message": self.message,
        }


class EngageError(Exception):
    """Base of every error a user can meet; the message says what to do."""


@dataclass
class DiagnosticsError(EngageError):
    """Raised when input is refused; carries every diagnostic found, not just the first."""

    diagnostics: list[Diagnostic] = field(default_factory=list)

    def __str__(self) -> str:
        return "\n".join(str(d) for d in self.diagnostics)

"""Reading profiles the way the Profile API answers: traits, external ids, events, metadata, links.

`ProfileReader` queries the warehouse; `ReadModelReader` answers `/traits` from an in-memory copy
kept in step with it (the server's choice on DuckDB).
"""

from engagectl.profiles.read_model import ProfileReadModel, ReadModelReader
from engagectl.profiles.reader import ProfileNotFound, ProfileReader

__all__ = ["ProfileNotFound", "ProfileReadModel", "ProfileReader", "ReadModelReader"]

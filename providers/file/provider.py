"""`file`: one Segment-spec message per line (`settings: {path: out/x.jsonl}`).

The file itself is the record of what was delivered: before the first write the provider reads
the message ids already in it (and drops a torn last line from a crash mid-write), so a resumed
or repeated sync never writes the same `messageId` twice.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from engagectl.sync.provider import DELIVERED, Capabilities, Delivery, Outcome, Provider


class FileProvider(Provider):
    name = "file"
    capabilities = Capabilities(destination_type="event", identify=True, track=True, alias=True,
                                batch_size=1000, auth="none: a local file")
    required_settings = ("path",)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        path = Path(self.settings["path"])
        self.path = path if path.is_absolute() else self.project_dir / path
        self._written: set[str] | None = None

    def written_ids(self) -> set[str]:
        if self._written is None:
            self._written = set()
            if self.path.exists():
                self._repair_torn_line()
                with self.path.open("rb") as handle:
                    for line in handle:
                        if line.strip():
                            self._written.add(json.loads(line).get("messageId"))
        return self._written

    def _repair_torn_line(self) -> None:
        """A crash mid-write can leave a last line without its newline: drop it, it is resent."""
        with self.path.open("rb+") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            if size == 0:
                return
            handle.seek(size - 1)
            if handle.read(1) == b"\n":
                return
            handle.seek(0)
            content = handle.read()
            handle.truncate(content.rfind(b"\n") + 1)

    def send(self, batch: list[Delivery]) -> Outcome:
        written = self.written_ids()
        lines = []
        for delivery in batch:
            if delivery.message_id in written:
                continue
            lines.append(delivery.payload_json)
        if lines:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as handle:
                handle.write("\n".join(lines) + "\n")
                handle.flush()
                os.fsync(handle.fileno())
            written.update(d.message_id for d in batch)
        return DELIVERED

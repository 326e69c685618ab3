"""The OpenAPI document the server serves at `/openapi.json`, kept in `specs/openapi.json`.

Regenerate after changing a route: `python -m engagectl.server.openapi` (a test checks that the
file and the served document agree).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

SPEC_PATH = Path(__file__).resolve().parents[2] / "specs" / "openapi.json"


def openapi_document() -> dict:
    from engagectl.server.app import create_app

    return create_app().openapi()


def render(document: dict) -> str:
    return json.dumps(document, indent=2, sort_keys=True) + "\n"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    target = Path(argv[0]) if argv else SPEC_PATH
    target.write_text(render(openapi_document()), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())

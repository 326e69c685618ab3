"""The compiled SQL of specs/golden/definitions.yaml is pinned, and every pinned file parses back."""

from __future__ import annotations

import sqlglot

from engagectl.compile.golden import GOLDEN_DIR, REGENERATE, golden_sql


def test_compiler_output_matches_the_golden_files():
    changed = [name for name, sql in golden_sql().items()
               if not (GOLDEN_DIR / name).exists() or (GOLDEN_DIR / name).read_text(encoding="utf-8") != sql]
    assert not changed, (
        f"the compiled SQL changed for {len(changed)} golden file(s), e.g. {changed[:5]}; "
        f"if the change is intended, run `{REGENERATE}` and review the diff"
    )


def test_every_golden_file_parses_in_its_dialect():
    files = sorted(GOLDEN_DIR.glob("*.sql"))
    assert len(files) >= 100
    for path in files:
        dialect = path.name.split(".")[-2]
        parsed = sqlglot.parse_one(path.read_text(encoding="utf-8"), read=dialect)
        assert parsed.find(sqlglot.exp.Select) is not None, path.name

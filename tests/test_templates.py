"""The `engine` fixture's mirrors (copies of a session template) are what `upgrade` makes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, inspect, text
from sqlalchemy.engine.reflection import ObjectKind

from etl.mirror.engine import check_schema, current_revision, head_revision, make_engine, upgrade
from tests.conftest import DATABASES, empty_database
from tests.templates import Templates


def _schema(engine: Engine) -> dict[str, Any]:
    """Every table's columns, keys and indexes, every view's columns and definition, and every
    table's rows, with the database's own name left out."""
    inspector = inspect(engine)
    name = engine.url.database or ""
    kinds = (ObjectKind.TABLE, ObjectKind.ANY_VIEW)
    described = {
        "columns": inspector.get_multi_columns(kind=ObjectKind.ANY),
        "pk": inspector.get_multi_pk_constraint(kind=kinds[0]),
        "indexes": inspector.get_multi_indexes(kind=kinds[0]),
        "unique": inspector.get_multi_unique_constraints(kind=kinds[0]),
        "checks": inspector.get_multi_check_constraints(kind=kinds[0]),
    }
    shape = {
        what: {key[1]: repr(value) for key, value in found.items()}
        for what, found in described.items()
    }
    views = {
        view: " ".join(str(inspector.get_view_definition(view)).replace(f"`{name}`.", "").split())
        for view in sorted(inspector.get_view_names())
    }
    quote = engine.dialect.identifier_preparer.quote
    with engine.connect() as conn:
        rows = {
            t: sorted(map(repr, conn.execute(text(f"SELECT * FROM {quote(t)}")).all()))
            for t in inspector.get_table_names()
        }
    return {"shape": shape, "views": views, "rows": rows}


@pytest.mark.parametrize("kind", DATABASES)
def test_a_copy_of_the_template_is_an_upgraded_mirror(
    kind: str, head_templates: Templates, tmp_path: Path
) -> None:
    (tmp_path / "made").mkdir()
    (tmp_path / "copied").mkdir()
    with empty_database(kind, tmp_path / "made") as made_url:
        made = make_engine(made_url)
        upgrade(made)
        with empty_database(kind, tmp_path / "copied", head_templates) as copied_url:
            copied = make_engine(copied_url)
            try:
                assert current_revision(copied) == head_revision()
                assert _schema(copied) == _schema(made)
                check_schema(copied)
                assert upgrade(copied) == []  # nothing to repair
                if kind == "sqlite":
                    assert (tmp_path / "copied" / "mirror.db").stat().st_mode & 0o777 == 0o600
                if kind == "postgresql":  # a schema of its own, named as its database
                    with copied.connect() as conn:
                        schema = conn.execute(text("SELECT current_schema()")).scalar()
                    assert schema == copied.url.database
            finally:
                copied.dispose()
                made.dispose()

"""Who is mirrored where: each practice of a group, with its own settings and database.

Each practice gets a copy of the settings with its own customer key, API address and database:
on PostgreSQL the same database with `search_path` set to a schema named after the practice; on
MySQL, whose schemas are its databases, the database named after the practice on the same server;
on SQLite its own file, the `{practice}` of `database.url`.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass

from sqlalchemy.engine import make_url

from etl.config.practices import PLACEHOLDER, PracticeSettings
from etl.config.settings import Settings
from etl.errors import ConfigError

_SEARCH_PATH = re.compile(r"(?:-c\s*|--)search_path=\S*")


@dataclass(frozen=True)
class Target:
    """One practice's mirror.

    A config without `practices:` is a group of one: a single target without a name.

    Attributes:
        name: the practice, or None for the one office of a config without `practices:`.
        settings: its own settings (its keys, its API address, its database URL).
        schema: its PostgreSQL schema or MySQL database, or None on SQLite (a file of its own).
    """

    name: str | None
    settings: Settings
    schema: str | None


def practice_url(url: str, name: str) -> str:
    """The database URL of one practice: its SQLite file, MySQL database or PostgreSQL schema."""
    if url.startswith("sqlite"):
        return url.replace(PLACEHOLDER, name)
    parsed = make_url(url)
    if parsed.get_backend_name() in ("mysql", "mariadb"):
        return parsed.set(database=name).render_as_string(hide_password=False)
    given = parsed.query.get("options", "")
    options = " ".join(given) if isinstance(given, tuple) else given
    options = f"{_SEARCH_PATH.sub('', options).strip()} -csearch_path={name}".strip()
    return parsed.update_query_dict({"options": options}).render_as_string(hide_password=False)


def targets(settings: Settings, only: str | None = None) -> list[Target]:
    """The mirrors of the config: each practice (or just `only`), or the one office.

    Raises:
        ConfigError: `only` names no practice, or is given and the config lists none.
    """
    if not settings.practices:
        if only is not None:
            raise ConfigError("--practice needs a `practices:` list in the config")
        return [Target(None, settings, None)]
    chosen = [p for p in settings.practices if only in (None, p.name)]
    if not chosen:
        known = ", ".join(p.name for p in settings.practices)
        raise ConfigError(f"no practice named {only!r} in the config (it lists {known})")
    return [_target(settings, practice) for practice in chosen]


def migration_url(settings: Settings, practice: str | None) -> str:
    """The database URL `alembic upgrade` works on: the mirror's, or one practice's.

    Raises:
        ConfigError: the config lists practices and `practice` names none of them.
    """
    if not settings.practices and practice is None:
        return settings.database.url
    if practice is None:
        raise ConfigError(
            "this config lists practices: pass -x practice=NAME to alembic "
            "(`odmirror init` upgrades every practice and recreates the group views)"
        )
    return targets(settings, practice)[0].settings.database.url


def _target(settings: Settings, practice: PracticeSettings) -> Target:
    api = dataclasses.replace(
        settings.api,
        customer_key=practice.customer_key,
        base_url=practice.base_url or settings.api.base_url,
    )
    url = practice_url(settings.database.url, practice.name)
    database = dataclasses.replace(settings.database, url=url)
    own = dataclasses.replace(settings, api=api, database=database, practices=())
    return Target(practice.name, own, None if url.startswith("sqlite") else practice.name)

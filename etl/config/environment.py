"""ODMIRROR_* environment variables: which ones odmirror reads, and a warning for the others.

Any config key can be set by a variable named ODMIRROR_<SECTION>_<KEY>. A misspelled one
(ODMIRROR_DATABSE_URL) would otherwise be ignored without a word, and the mirror would go on
with the file's value: each unknown ODMIRROR_ variable is named in a warning, with the known
name closest to it.
"""

from __future__ import annotations

import dataclasses
import difflib
import logging
from collections.abc import Iterable, Mapping
from typing import Any

from etl.fast_paths import PLAIN_ENV

log = logging.getLogger("odmirror")
PREFIX = "ODMIRROR_"
#: Variables odmirror reads that are no config key (ODMIRROR_TEST_PG_URL: the test suite's).
OTHER_NAMES = ("ODMIRROR_CONFIG", PLAIN_ENV, "ODMIRROR_TEST_PG_URL", "ODMIRROR_TEST_MYSQL_URL")


def override_name(section: str, key: str) -> str:
    """The variable that overrides `section.key`: ODMIRROR_API_PAGE_SIZE for api.page_size."""
    return f"{PREFIX}{section}_{key}".upper()


def known_names(sections: Mapping[str, type[Any]], extra: Iterable[str] = ()) -> set[str]:
    """Every ODMIRROR_ variable odmirror reads: one per key of each section, and the others."""
    names = {
        override_name(section, field.name)
        for section, cls in sections.items()
        for field in dataclasses.fields(cls)
    }
    return names | set(OTHER_NAMES) | set(extra)


def unknown_variables(env: Mapping[str, str], known: set[str]) -> list[tuple[str, str | None]]:
    """The ODMIRROR_ variables set that odmirror does not read, each with the closest known."""
    found = []
    for name in sorted(env):
        if name.upper().startswith(PREFIX) and name not in known:
            close = difflib.get_close_matches(name.upper(), sorted(known), n=1, cutoff=0.6)
            found.append((name, close[0] if close else None))
    return found


def warn_unknown(env: Mapping[str, str], known: set[str]) -> None:
    """Log one warning per unknown ODMIRROR_ variable."""
    for name, close in unknown_variables(env, known):
        hint = f" (did you mean {close}?)" if close else ""
        log.warning("environment variable %s is not one odmirror reads%s; ignored", name, hint)

"""One check's outcome, as `odmirror check` shows it, and how outside text is cut for it."""

from __future__ import annotations

from dataclasses import dataclass

from etl import logs

#: Outside text (server and database errors) is cut to this many characters.
DETAIL_MAX = 300


@dataclass(frozen=True)
class Finding:
    """One check's outcome: `ok` None means it was not made (an earlier check failed)."""

    check: str
    ok: bool | None
    detail: str
    practice: str | None = None

    def line(self) -> str:
        """The text line: `ok`, `FAIL` or `skip`, the practice, the check, what was found."""
        mark = {True: "ok", False: "FAIL", None: "skip"}[self.ok]
        where = f"{self.practice}: " if self.practice else ""
        return f"{mark:4} {where}{self.check}: {self.detail}"


def cut(text: str) -> str:
    """Outside text made one line to show: secrets and quoted values hidden, cut short."""
    line = " ".join(logs.REDACTOR.scrub(text).split())
    return line if len(line) <= DETAIL_MAX else line[: DETAIL_MAX - 3] + "..."

"""Text that comes from outside (a server's error body, a database's message), made fit to show.

Such text goes into logs, `status` and the run table. Written as it came, an ESC sequence
recolours or rewrites a terminal, a BEL rings, a newline forges a log line, and a 10 MB body
fills the run table. So every control or format character is escaped (as `\\x1b`, `\\u2028`)
and the text is cut. A server's error may quote a record: what looks like a US SSN (three, two
and four digits, or nine in a row) is masked.
"""

from __future__ import annotations

import re
import unicodedata

#: The most characters of outside text one message carries.
LIMIT = 200
_SSN = re.compile(r"(?<![\w-])\d{3}([- ]?)\d{2}\1\d{4}(?![\w-])")


def shown(text: str, limit: int = LIMIT) -> str:
    """The text on one line, control characters escaped, at most `limit` characters (and "...").

    Runs of whitespace become one space; any other control or format character is escaped.
    """
    out = []
    for char in " ".join(text.split()):
        if unicodedata.category(char) in ("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"):
            code = ord(char)
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")
        else:
            out.append(char)
    joined = _SSN.sub("***-**-****", "".join(out))
    return joined if len(joined) <= limit else f"{joined[:limit]}..."

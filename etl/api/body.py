"""An answer's body within bounds: its decoded size capped while it is read, its JSON parsed.

A server can send 8 MB of gzip that inflates to 3 GB, or a 200 MB page: read whole, either
takes the machine's memory. The body is read in chunks, inflated at most a chunk at a time
(urllib3 bounds each step's output), and the read stops as soon as the cap is passed.

Within the cap, what a body costs once parsed depends on how many values it holds: 16 MiB of
`{},{},...` is 5.6 million objects, 400 MB of Python objects (measured), while a page of 1000
patients (about 1 MB) holds about 50,000 values. A large body is therefore refused when it
holds more than MAX_VALUES values, which keeps a parsed page under about 150 MB.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import msgspec
import requests

MIB = 1024 * 1024
#: The size of each read while counting: a page of 1000 patients (about 1 MB) in one or two.
CHUNK_BYTES = MIB
#: Bodies larger than this have their values counted before they are parsed (a comma a
#: value, commas inside strings too: an over-count). Smaller ones cannot hold enough to matter,
#: and counting costs 0.6 ms a MiB, so the usual page of 1-2 MB is not counted.
COUNT_FROM_BYTES = 4 * MIB
#: The most values a large body may hold: 10,000 rows (an Enterprise page) of 100 fields, twice
#: over; at most about 72 bytes each once parsed (`{}`), about 150 MB.
MAX_VALUES = 2_000_000
_JSON = msgspec.json.Decoder()


class TooLarge(Exception):
    """The body passed the cap; carries how much had been read (decoded) by then."""

    def __init__(self, size: int) -> None:
        super().__init__(f"more than {size} bytes")
        self.size = size


class TooDeep(Exception):
    """The JSON nests deeper than a parser can follow."""


class TooMany(Exception):
    """The JSON holds more values than MAX_VALUES."""


def read_body(response: requests.Response, limit: int) -> bytes:
    """The whole body, decoded (gzip, deflate...), refused once it passes `limit` bytes.

    Raises:
        TooLarge: the declared or the decoded size passed `limit`; the connection is closed.
        requests.RequestException: as requests raises while reading.
    """
    declared = response.headers.get("Content-Length", "")
    encoded = response.headers.get("Content-Encoding", "identity").lower() != "identity"
    if declared.isdigit() and not encoded:
        if int(declared) > limit:
            response.close()
            raise TooLarge(int(declared))
        # The server's own length bounds the read (http.client reads no more than it says):
        # the body in one read, as before the cap.
        return b"".join(response.iter_content(None))
    chunks, size = [], 0
    for chunk in response.iter_content(CHUNK_BYTES):
        size += len(chunk)
        if size > limit:
            response.close()
            raise TooLarge(size)
        chunks.append(chunk)
    return b"".join(chunks)


def parse_json(body: bytes, fallback: Callable[[], Any]) -> Any:
    """The body's JSON, as the json module reads it.

    msgspec parses a page several times faster than the json module and gives the same values
    (integers of any size too). What it refuses (NaN, a lone surrogate, a UTF-8 BOM) the json
    module reads; a body in another charset, `fallback` (requests' own decoding) reads.

    Raises:
        ValueError: no parser read it.
        TooDeep: it nests deeper than the parsers' recursion limit (a hostile document).
        TooMany: it holds more than MAX_VALUES values (parsed, it would take too much memory).
    """
    if len(body) > COUNT_FROM_BYTES and body.count(b",") >= MAX_VALUES:
        raise TooMany
    parsers = (_JSON.decode, json.loads, lambda _: fallback())
    for parse in parsers:
        try:
            return parse(body)
        except ValueError:
            continue
        except RecursionError:
            raise TooDeep from None
    raise ValueError("not JSON")

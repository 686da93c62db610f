"""A PostgreSQL schema of MySQL's functions, so Open Dental's queries need fewer edits.

`odmirror init` runs `create_compat_functions()` (opt out in config); `odmirror query` calls
these functions by their qualified names. In a BI tool, put the schema on the search path
(`ALTER ROLE reporting SET search_path = "$user", public, odmirror_mysql`) and CURDATE(),
DATE_FORMAT(), IFNULL(), IF(), DATEDIFF(), DATE_ADD(d, INTERVAL '1 month'), YEAR(), CONCAT_WS(),
GROUP_CONCAT(), SUBSTRING_INDEX(), ROUND(double, 2) ... run as written. PostgreSQL's own functions
come first on any search path: its NOW() (with a time zone), LEFT/RIGHT and CONCAT (which skips
NULLs, where MySQL's gives NULL) stay PostgreSQL's unless called as `odmirror_mysql.concat`.
MySQL's `INTERVAL 1 MONTH` (without quotes) is not PostgreSQL syntax: `odmirror query` rewrites
it; pasted SQL needs `INTERVAL '1 month'`.
"""

from __future__ import annotations

import re

from sqlalchemy import Connection

DEFAULT_SCHEMA = "odmirror_mysql"
_SAFE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")

_DATE_CODES = {
    "Y": "to_char(ts, 'YYYY')",
    "y": "to_char(ts, 'YY')",
    "m": "to_char(ts, 'MM')",
    "c": "to_char(ts, 'FMMM')",
    "d": "to_char(ts, 'DD')",
    "e": "to_char(ts, 'FMDD')",
    "D": "to_char(ts, 'FMDDth')",
    "H": "to_char(ts, 'HH24')",
    "k": "to_char(ts, 'FMHH24')",
    "h": "to_char(ts, 'HH12')",
    "I": "to_char(ts, 'HH12')",
    "l": "to_char(ts, 'FMHH12')",
    "i": "to_char(ts, 'MI')",
    "s": "to_char(ts, 'SS')",
    "S": "to_char(ts, 'SS')",
    "f": "to_char(ts, 'US')",
    "p": "to_char(ts, 'AM')",
    "M": "to_char(ts, 'FMMonth')",
    "b": "to_char(ts, 'Mon')",
    "W": "to_char(ts, 'FMDay')",
    "a": "to_char(ts, 'Dy')",
    "w": "extract(dow from ts)::int::text",
    "j": "to_char(ts, 'DDD')",
    "T": "to_char(ts, 'HH24:MI:SS')",
    "r": "to_char(ts, 'HH12:MI:SS AM')",
}
_DATE_FORMAT_CASES = "\n".join(
    f"        WHEN '{code}' THEN {sql}" for code, sql in _DATE_CODES.items()
)

_FUNCTIONS = """
CREATE SCHEMA IF NOT EXISTS {s};
CREATE OR REPLACE FUNCTION {s}.curdate() RETURNS date LANGUAGE sql STABLE
    AS $$ SELECT CURRENT_DATE $$;
CREATE OR REPLACE FUNCTION {s}.curtime() RETURNS time LANGUAGE sql STABLE
    AS $$ SELECT LOCALTIME(0) $$;
CREATE OR REPLACE FUNCTION {s}.now() RETURNS timestamp LANGUAGE sql STABLE
    AS $$ SELECT LOCALTIMESTAMP(0) $$;
CREATE OR REPLACE FUNCTION {s}.ifnull(a anycompatible, b anycompatible) RETURNS anycompatible
    LANGUAGE sql IMMUTABLE AS $$ SELECT COALESCE(a, b) $$;
CREATE OR REPLACE FUNCTION {s}."if"(c boolean, a anycompatible, b anycompatible)
    RETURNS anycompatible LANGUAGE sql IMMUTABLE AS $$ SELECT CASE WHEN c THEN a ELSE b END $$;
CREATE OR REPLACE FUNCTION {s}."if"(c bigint, a anycompatible, b anycompatible)
    RETURNS anycompatible LANGUAGE sql IMMUTABLE AS $$ SELECT CASE WHEN c <> 0 THEN a ELSE b END $$;
CREATE OR REPLACE FUNCTION {s}.datediff(a timestamp, b timestamp) RETURNS integer
    LANGUAGE sql IMMUTABLE AS $$ SELECT a::date - b::date $$;
CREATE OR REPLACE FUNCTION {s}.date_add(d date, i interval) RETURNS date
    LANGUAGE sql IMMUTABLE AS $$ SELECT (d + i)::date $$;
CREATE OR REPLACE FUNCTION {s}.date_add(d timestamp, i interval) RETURNS timestamp
    LANGUAGE sql IMMUTABLE AS $$ SELECT d + i $$;
CREATE OR REPLACE FUNCTION {s}.date_sub(d date, i interval) RETURNS date
    LANGUAGE sql IMMUTABLE AS $$ SELECT (d - i)::date $$;
CREATE OR REPLACE FUNCTION {s}.date_sub(d timestamp, i interval) RETURNS timestamp
    LANGUAGE sql IMMUTABLE AS $$ SELECT d - i $$;
CREATE OR REPLACE FUNCTION {s}.year(d timestamp) RETURNS integer
    LANGUAGE sql IMMUTABLE AS $$ SELECT extract(year from d)::int $$;
CREATE OR REPLACE FUNCTION {s}.month(d timestamp) RETURNS integer
    LANGUAGE sql IMMUTABLE AS $$ SELECT extract(month from d)::int $$;
CREATE OR REPLACE FUNCTION {s}.day(d timestamp) RETURNS integer
    LANGUAGE sql IMMUTABLE AS $$ SELECT extract(day from d)::int $$;
CREATE OR REPLACE FUNCTION {s}.quarter(d timestamp) RETURNS integer
    LANGUAGE sql IMMUTABLE AS $$ SELECT extract(quarter from d)::int $$;
CREATE OR REPLACE FUNCTION {s}.dayofweek(d timestamp) RETURNS integer
    LANGUAGE sql IMMUTABLE AS $$ SELECT extract(dow from d)::int + 1 $$;
CREATE OR REPLACE FUNCTION {s}.last_day(d timestamp) RETURNS date
    LANGUAGE sql IMMUTABLE
    AS $$ SELECT (date_trunc('month', d) + interval '1 month - 1 day')::date $$;
CREATE OR REPLACE FUNCTION {s}.timestampdiff(unit text, a timestamp, b timestamp)
    RETURNS bigint LANGUAGE sql IMMUTABLE AS $$
    SELECT (CASE upper(unit)
        WHEN 'YEAR' THEN trunc(months / 12) WHEN 'QUARTER' THEN trunc(months / 3)
        WHEN 'MONTH' THEN months WHEN 'WEEK' THEN trunc(seconds / 604800)
        WHEN 'DAY' THEN trunc(seconds / 86400) WHEN 'HOUR' THEN trunc(seconds / 3600)
        WHEN 'MINUTE' THEN trunc(seconds / 60) WHEN 'SECOND' THEN trunc(seconds) END)::bigint
    FROM (SELECT extract(year from age(b, a)) * 12 + extract(month from age(b, a)) AS months,
                 extract(epoch from b - a) AS seconds) AS parts $$;
CREATE OR REPLACE FUNCTION {s}.round(x double precision, places integer) RETURNS numeric
    LANGUAGE sql IMMUTABLE AS $$ SELECT round(x::numeric, places) $$;
CREATE OR REPLACE FUNCTION {s}.format(x numeric, places integer) RETURNS text
    LANGUAGE sql IMMUTABLE AS $$
    SELECT to_char(round(x, greatest(places, 0)), 'FM999,999,999,999,999,990'
        || CASE WHEN places > 0 THEN '.' || repeat('0', places) ELSE '' END) $$;
CREATE OR REPLACE FUNCTION {s}.format(x double precision, places integer) RETURNS text
    LANGUAGE sql IMMUTABLE AS $$ SELECT {s}.format(x::numeric, places) $$;
CREATE OR REPLACE FUNCTION {s}.concat(VARIADIC parts text[]) RETURNS text
    LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN array_position(parts, NULL) IS NULL THEN array_to_string(parts, '') END $$;
CREATE OR REPLACE FUNCTION {s}.substring_index(t text, delim text, n integer) RETURNS text
    LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE
        WHEN delim = '' OR n = 0 THEN ''
        WHEN n > 0 THEN array_to_string((string_to_array(t, delim))[1:n], delim)
        ELSE array_to_string((string_to_array(t, delim))
            [greatest(cardinality(string_to_array(t, delim)) + n + 1, 1):], delim)
    END $$;
CREATE OR REPLACE FUNCTION {s}.date_format(ts timestamp, fmt text) RETURNS text
    LANGUAGE plpgsql STABLE AS $$
DECLARE
    result text := '';
    i integer := 1;
    code text;
BEGIN
    IF ts IS NULL OR fmt IS NULL THEN RETURN NULL; END IF;
    WHILE i <= length(fmt) LOOP
        IF substr(fmt, i, 1) = '%' AND i < length(fmt) THEN
            code := substr(fmt, i + 1, 1);
            result := result || CASE code
{cases}
                ELSE code END;
            i := i + 2;
        ELSE
            result := result || substr(fmt, i, 1);
            i := i + 1;
        END IF;
    END LOOP;
    RETURN result;
END $$;
CREATE OR REPLACE FUNCTION {s}.group_concat_step(state text, item anyelement, sep text)
    RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN item IS NULL THEN state WHEN state IS NULL THEN item::text
        ELSE state || sep || item::text END $$;
CREATE OR REPLACE FUNCTION {s}.group_concat_step(state text, item anyelement)
    RETURNS text LANGUAGE sql IMMUTABLE AS $$ SELECT {s}.group_concat_step(state, item, ',') $$;
CREATE OR REPLACE AGGREGATE {s}.group_concat(anyelement, text)
    (SFUNC = {s}.group_concat_step, STYPE = text);
CREATE OR REPLACE AGGREGATE {s}.group_concat(anyelement)
    (SFUNC = {s}.group_concat_step, STYPE = text);
"""


def compat_sql(schema: str = DEFAULT_SCHEMA) -> list[str]:
    """The statements that create (or replace) the schema of MySQL-compatible functions.

    Raises:
        ValueError: the schema name is not a plain lower-case identifier.
    """
    if not _SAFE_NAME.match(schema):
        raise ValueError(f"not a plain schema name: {schema[:70]!r}")
    text = _FUNCTIONS.replace("{cases}", _DATE_FORMAT_CASES).replace("{s}", schema)
    return [part.strip() for part in re.split(r";\s*\n(?=CREATE)", text) if part.strip()]


def create_compat_functions(connection: Connection, schema: str = DEFAULT_SCHEMA) -> None:
    """Create or replace the MySQL-compatible functions on PostgreSQL (safe to run again).

    Args:
        connection: a connection to the PostgreSQL mirror, in a transaction the caller commits.
        schema: the schema that holds them.
    """
    statements = compat_sql(schema)
    # Every practice's init (and another host's) replaces the same functions: two at once
    # fail with "tuple concurrently updated". One at a time, until the caller's commit.
    connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock(hashtext('odmirror {schema}'))")
    # The driver's own cursor, without parameters: the SQL holds '%' (DATE_FORMAT's codes).
    cursor = connection.connection.cursor()
    try:
        for statement in statements:
            cursor.execute(statement.rstrip(";"))
    finally:
        cursor.close()

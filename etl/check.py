"""`odmirror check`: what is wrong with an installation, before its first sync.

One line per check: the config, the environment, the keys; then for the office (or each
practice of a group) the API (its mode, clock, throttle tier, whether SQL queries are
allowed) and the mirror database (reachable, writable, schema at head, lock free, disk
space). Exit 0 when every check passes, 1 when one fails, 2 when the config cannot be read.
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Generator, Iterator
from dataclasses import asdict

from etl import logs
from etl.check_mirror import api_findings, database_findings
from etl.config.environment import known_names, unknown_variables
from etl.config.load import SECTIONS, config_path, load_settings
from etl.config.settings import Settings
from etl.config.targets import targets
from etl.errors import ConfigError
from etl.findings import Finding, cut
from etl.wording import plural


def add_parser(
    commands: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    """Add the `check` command to the CLI's subcommands."""
    text = "check the config, keys, API and database before the first sync (exit 1: a problem)"
    sub = commands.add_parser("check", help=text, description=text, parents=[common])
    sub.add_argument("--json", action="store_true", help="one JSON document on stdout")
    sub.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Run every check, print the findings; returns the exit code."""
    findings = list(findings_for(getattr(args, "config", None)))
    if args.json:
        passed = all(f.ok is not False for f in findings)
        print(json.dumps({"ok": passed, "checks": [asdict(f) for f in findings]}, indent=2))
    else:
        print("\n".join(f.line() for f in findings))
    if any(f.check == "config" and f.ok is False for f in findings):
        return ConfigError.exit_code
    return 1 if any(f.ok is False for f in findings) else 0


def findings_for(path: str | None) -> Iterator[Finding]:
    """Every check of the config at `path` (None: $ODMIRROR_CONFIG or ./config.yaml)."""
    try:
        settings = load_settings(path, need_keys=False, warn_env=False)
    except ConfigError as exc:
        yield Finding("config", False, cut(str(exc)))
        return
    logs.REDACTOR.add_secrets(settings.api.developer_key, settings.api.customer_key)
    logs.REDACTOR.add_secrets(*(p.customer_key for p in settings.practices))
    if (bulk := settings.api.bulk_sftp) is not None:  # SFTP passwords of the bulk path
        logs.REDACTOR.add_secrets(bulk.password, bulk.read_password or "")
    offices = f"{plural(len(settings.practices), 'practice')}" if settings.practices else "1 office"
    yield Finding("config", True, f"{config_path(path)} is valid ({offices})")
    yield from _environment(settings)
    keyed = yield from _keys(path)
    # Here, not at the top: every command's parser imports this module.

    for name, own in _offices(keyed or settings):
        if keyed is None:
            yield Finding("api", None, "not checked: no usable keys", name)
        else:
            yield from api_findings(own, name)
        yield from database_findings(own.database.url, name)


def _environment(settings: Settings) -> Iterator[Finding]:
    known = known_names(SECTIONS, [settings.pii.secret_env])
    unknown = unknown_variables(os.environ, known)
    for variable, close in unknown:
        hint = f"; did you mean {close}?" if close else ""
        yield Finding("environment", False, f"{variable} is not a variable odmirror reads{hint}")
    if not unknown:
        yield Finding("environment", True, "every ODMIRROR_ variable set is one odmirror reads")


def _keys(path: str | None) -> Generator[Finding, None, Settings | None]:
    # The generator's value (yield from) is the settings with real keys, or None.
    try:
        settings = load_settings(path, warn_env=False)
    except ConfigError as exc:
        yield Finding("keys", False, cut(str(exc)))
        return None
    count = len(settings.practices)
    customers = plural(count, "customer key") if count else "the customer key"
    yield Finding("keys", True, f"the developer key and {customers} are set (no placeholders)")
    return settings


def _offices(settings: Settings) -> list[tuple[str | None, Settings]]:
    return [(target.name, target.settings) for target in targets(settings)]

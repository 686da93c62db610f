"""`odmirror init-config [PATH]`: write the commented example config, never over a file.

The example ships inside the wheel (etl/config.example.yaml, see pyproject.toml); in a
checkout it is the repository's own config.example.yaml.
"""

from __future__ import annotations

import argparse
import os
from importlib import resources
from pathlib import Path

from etl.errors import ConfigError

EXAMPLE = "config.example.yaml"


def add_parser(
    commands: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    """Add the `init-config` command to the CLI's subcommands."""
    text = "write the example config to PATH (default ./config.yaml); never overwrites"
    sub = commands.add_parser("init-config", help=text, description=text, parents=[common])
    sub.add_argument("path", nargs="?", type=Path, default=Path("config.yaml"), metavar="PATH")
    sub.set_defaults(handler=run)


def example_text() -> str:
    """The example config, from the installed package or the checkout it runs from."""
    packaged = resources.files("etl").joinpath(EXAMPLE)
    if packaged.is_file():
        return packaged.read_text(encoding="utf-8")
    return (Path(__file__).resolve().parent.parent / EXAMPLE).read_text(encoding="utf-8")


def run(args: argparse.Namespace) -> None:
    """Write the example to `args.path`, created new (mode 0640): a file there stays as is.

    Raises:
        ConfigError: the file exists or cannot be written.
    """
    path: Path = args.path
    try:
        # O_EXCL: refused if it exists, even if made a moment ago by someone else.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)
    except FileExistsError:
        raise ConfigError(f"{path} exists; not overwritten (remove it or name another)") from None
    except OSError as exc:
        raise ConfigError(f"cannot write {path}: {exc.strerror}") from None
    with os.fdopen(fd, "w", encoding="utf-8") as file:
        file.write(example_text())
    print(f"wrote {path}: set api.base_url and database.url, put the keys in the environment")

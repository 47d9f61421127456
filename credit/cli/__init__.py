"""The `credit` command: its parser and commands, the governance commands, `credit poll`
and the terminal views of reports."""

from credit.cli.commands import build_parser, main

__all__ = ["build_parser", "main"]

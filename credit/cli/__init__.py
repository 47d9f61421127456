"""The `credit` command: its parser and commands, the governance commands, `credit poll`
and the terminal views of reports."""

from credit.cli.parser import build_parser, main

__all__ = ["build_parser", "main"]

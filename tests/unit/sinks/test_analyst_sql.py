"""The parser-side gate of analysts' SQL (`sinks.analyst_sql.check_readonly`)."""

from __future__ import annotations

import pytest

from sinks.analyst_sql import check_readonly
from sinks.exceptions import QueryError


@pytest.mark.parametrize(
    ("sql", "statement"),
    [
        ("SELECT 1;", "SELECT 1"),
        ("  select 1 ; -- done; really", "select 1"),
        ("WITH t AS (SELECT 1 AS x) SELECT x FROM t", "WITH t AS (SELECT 1 AS x) SELECT x FROM t"),
        ("SELECT 'DROP TABLE x; INSERT' AS s", "SELECT 'DROP TABLE x; INSERT' AS s"),
        ("SELECT `insert` FROM t /* drop */", "SELECT `insert` FROM t /* drop */"),
        ("SELECT format('{} {}', 'it''s', 1)", "SELECT format('{} {}', 'it''s', 1)"),
        ("(SELECT 1) UNION ALL (SELECT 2)", "(SELECT 1) UNION ALL (SELECT 2)"),
        ("SELECT name FROM system.tables", "SELECT name FROM system.tables"),
    ],
)
def test_single_select_is_admitted(sql: str, statement: str) -> None:
    assert check_readonly(sql) == statement


@pytest.mark.parametrize(
    ("sql", "reason"),
    [
        ("", "empty"),
        ("-- only a comment", "empty"),
        ("INSERT INTO t VALUES (1)", "only SELECT"),
        ("DROP TABLE t", "only SELECT"),
        ("SYSTEM RELOAD CONFIG", "only SELECT"),
        ("SET readonly = 0", "only SELECT"),
        ("SELECT 1; SELECT 2", "one statement"),
        ("SELECT 1; DROP TABLE t", "one statement"),
        ("SELECT 1 SETTINGS readonly = 0", "SETTINGS"),
        ("SELECT 1 INTO OUTFILE '/tmp/x'", "INTO"),
        ("SELECT 1 FORMAT CSV", "FORMAT"),
        ("SELECT * FROM url('http://x', CSV)", "url()"),
        ("SELECT * FROM remote('h', db.t)", "remote()"),
        ("SELECT 'unterminated", "unterminated"),
        ("SELECT 1 /* open", "unterminated"),
    ],
)
def test_anything_else_is_refused_with_a_reason(sql: str, reason: str) -> None:
    with pytest.raises(QueryError, match=reason.replace("(", r"\(").replace(")", r"\)")):
        check_readonly(sql)


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT * FROM cls_secret",
        "SELECT * FROM credit.CLS_SECRET",
        "SELECT * FROM `cls_secret`",
        'SELECT * FROM "credit"."cls_secret"',
        "SELECT * FROM merge('credit', '^cls_')",
    ],
)
def test_denied_tables_cannot_be_named_however_spelled(sql: str) -> None:
    with pytest.raises(QueryError):
        check_readonly(sql, frozenset({"cls_secret"}))
    assert check_readonly("SELECT 'cls_secret' AS s", frozenset({"cls_secret"}))

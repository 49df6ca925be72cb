"""Destructive SQL migration statements, and the safe ones that look alike."""

from __future__ import annotations

import pytest

from shipyard.domain import migrations_lint as ml


@pytest.mark.parametrize(
    ("sql", "kinds"),
    [
        ("DROP TABLE orders", [ml.DROP_TABLE]),
        ("drop table if exists public.orders cascade", [ml.DROP_TABLE]),
        ("ALTER TABLE orders DROP COLUMN note", [ml.DROP_COLUMN]),
        ('alter table only "Orders" drop column if exists "note"', [ml.DROP_COLUMN]),
        ("ALTER TABLE orders DROP note", [ml.DROP_COLUMN]),
        ("ALTER TABLE orders RENAME TO purchases", [ml.RENAME_TABLE]),
        ("RENAME TABLE orders TO purchases", [ml.RENAME_TABLE]),
        ("ALTER TABLE orders RENAME COLUMN note TO comment", [ml.RENAME_COLUMN]),
        ("ALTER TABLE orders RENAME note TO comment", [ml.RENAME_COLUMN]),
        ("ALTER TABLE orders ALTER COLUMN total SET NOT NULL", [ml.SET_NOT_NULL]),
        ("ALTER TABLE orders ALTER total SET NOT NULL", [ml.SET_NOT_NULL]),
        ("ALTER TABLE orders ADD COLUMN sku text NOT NULL", [ml.ADD_NOT_NULL]),
        ("ALTER TABLE orders ADD sku varchar(20) not null", [ml.ADD_NOT_NULL]),
        (
            "ALTER TABLE orders ADD COLUMN a int, DROP COLUMN b, ALTER COLUMN c SET NOT NULL",
            [ml.DROP_COLUMN, ml.SET_NOT_NULL],
        ),
        ("EXEC sp_rename 'orders.note', 'comment', 'COLUMN'", [ml.RENAME_COLUMN]),
        # safe: additive, defaulted, or about constraints, defaults and indexes
        ("ALTER TABLE orders ADD COLUMN sku text NOT NULL DEFAULT ''", []),
        ("ALTER TABLE orders ADD COLUMN sku text", []),
        ("ALTER TABLE orders ADD CONSTRAINT sku_nn CHECK (sku IS NOT NULL) NOT VALID", []),
        ("ALTER TABLE orders ALTER COLUMN total DROP NOT NULL", []),
        ("ALTER TABLE orders ALTER COLUMN total DROP DEFAULT", []),
        ("ALTER TABLE orders DROP CONSTRAINT orders_pkey", []),
        ("ALTER TABLE orders RENAME CONSTRAINT a TO b", []),
        ("ALTER TABLE orders DROP PRIMARY KEY", []),
        ("CREATE TABLE orders (id int NOT NULL, note text NOT NULL)", []),
        ("DROP INDEX orders_sku", []),
        ("INSERT INTO log VALUES ('DROP TABLE orders')", []),
        ("-- DROP TABLE orders\nSELECT 1", []),
        ("/* ALTER TABLE orders DROP COLUMN note; */ SELECT 1", []),
        ("", []),
    ],
)
def test_lint_kinds(sql: str, kinds: list[str]) -> None:
    assert [f.kind for f in ml.lint(sql)] == kinds


def test_statements_split_outside_quotes_and_comments_with_their_line() -> None:
    sql = (
        "CREATE TABLE t (a text);\n"
        "-- a comment; with a semicolon\n"
        "INSERT INTO t VALUES ('x;y');\n"
        "\n"
        "ALTER TABLE t\n"
        "  DROP COLUMN a;\n"
    )
    assert ml.statements(sql) == [
        (1, "CREATE TABLE t (a text)"),
        (3, "INSERT INTO t VALUES ('x;y')"),
        (5, "ALTER TABLE t DROP COLUMN a"),
    ]


def test_findings_name_source_line_and_why() -> None:
    found = ml.lint("SELECT 1;\nDROP TABLE old_orders;", source="migrations/002.sql")
    assert found == (ml.Finding(ml.DROP_TABLE, "DROP TABLE old_orders", "migrations/002.sql", 2),)
    assert found[0].to_dict()["why"] == "drops a table the running version may still read"
    assert ml.summary(found) == "migrations/002.sql:2: drop-table: DROP TABLE old_orders"

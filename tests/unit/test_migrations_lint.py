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


def _revision(upgrade: str, downgrade: str = "pass") -> str:
    return (
        "import sqlalchemy as sa\nfrom alembic import op\n\n\n"
        f"def upgrade():\n    {upgrade}\n\n\ndef downgrade():\n    {downgrade}\n"
    )


@pytest.mark.parametrize(
    ("upgrade", "kinds"),
    [
        ('op.drop_table("orders")', [ml.DROP_TABLE]),
        ('op.drop_column("orders", "note")', [ml.DROP_COLUMN]),
        ('op.rename_table("orders", "purchases")', [ml.RENAME_TABLE]),
        ('op.alter_column("orders", "note", new_column_name="memo")', [ml.RENAME_COLUMN]),
        ('op.alter_column("orders", "note", nullable=False)', [ml.SET_NOT_NULL]),
        ('op.alter_column("orders", "note", nullable=True)', []),
        (
            'op.add_column("orders", sa.Column("n", sa.Integer(), nullable=False))',
            [ml.ADD_NOT_NULL],
        ),
        (
            'op.add_column("orders", sa.Column("n", sa.Integer(), nullable=False, '
            'server_default="0"))',
            [],
        ),
        ('op.add_column("orders", sa.Column("n", sa.Integer()))', []),
        ('op.create_table("t", sa.Column("id", sa.Integer(), nullable=False))', []),
        ('op.execute("ALTER TABLE orders DROP COLUMN note")', [ml.DROP_COLUMN]),
        ('op.execute("UPDATE orders SET note = 1")', []),
        (
            'with op.batch_alter_table("orders") as batch:\n        batch.drop_column("note")',
            [ml.DROP_COLUMN],
        ),
    ],
)
def test_alembic_upgrade_kinds(upgrade: str, kinds: list[str]) -> None:
    assert [f.kind for f in ml.lint_alembic(_revision(upgrade), "v2.py")] == kinds


def test_alembic_downgrade_may_drop_and_findings_name_the_call() -> None:
    text = _revision('op.add_column("t", sa.Column("n", sa.Text()))', 'op.drop_column("t", "n")')
    assert ml.lint_alembic(text) == ()
    [f] = ml.lint_file("versions/0002_x.py", _revision('op.drop_column(\n        "t", "n")'))
    assert (f.source, f.line, f.statement) == ("versions/0002_x.py", 6, 'op.drop_column( "t", "n")')


def test_alembic_file_that_does_not_parse_is_flagged() -> None:
    [f] = ml.lint_file("bad.py", "def upgrade(:\n")
    assert f.kind == ml.UNREADABLE and f.line == 1 and "not valid Python" in f.why


def test_lint_file_reads_sql_by_default() -> None:
    assert [f.kind for f in ml.lint_file("v2.sql", "DROP TABLE t;")] == [ml.DROP_TABLE]

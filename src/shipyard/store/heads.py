"""The schema's Alembic heads, in a module of its own so checks can read it without SQLAlchemy.

Each capability's tables are a migration branch off the foundation, so they can be added
independently. Compared with the database on open, so a current database never pays for
importing Alembic; a test holds this set equal to Alembic's heads.
"""

SCHEMA_HEADS = frozenset(
    {
        "0010_cache",
        "0013_build",
        "0003",
        "0013_deploy",
        "0006",
        "0012_flags",
        "0011_journey",
        "0012_org_blobs",
        "0012_trust",
        "0013_org_keys",
    }
)

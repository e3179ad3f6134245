"""The local database servers the EXPLAIN tests use, and a loud message when one is missing.

Imported without Django set up: the tests call ``require(vendor)`` before starting anything.
"""

import os
import socket
import tempfile

SERVERS = {
    "postgresql": ("127.0.0.1", 5432, "PostgreSQL"),
    "mariadb": ("127.0.0.1", 3306, "MariaDB"),
}
DEFAULT_DB = "djtop_explain"


def missing(vendor):
    """None when the server for ``vendor`` answers; else the message to fail with."""
    if vendor == "sqlite":
        return None
    host, port, name = SERVERS[vendor]
    try:
        socket.create_connection((host, port), timeout=2).close()
    except OSError as exc:
        return (
            f"{name} is not running at {host}:{port} ({exc.strerror or exc}): the EXPLAIN tests "
            f"need it. `make test` starts it when it is installed (scripts/databases.sh); "
            f"install it with `scripts/databases.sh install`."
        )
    return None


def database(vendor, name=None):
    """A DATABASES entry for ``vendor``."""
    name = name or os.environ.get("EXPLAINPROJ_DB") or DEFAULT_DB
    if vendor == "sqlite":
        if not name.endswith(".sqlite3"):
            name = os.path.join(tempfile.gettempdir(), name + ".sqlite3")
        return {"ENGINE": "django.db.backends.sqlite3", "NAME": name}
    if vendor == "postgresql":
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": name,
            "USER": "postgres",
            "HOST": "127.0.0.1",
            "PORT": "5432",
        }
    if vendor == "mariadb":
        return {
            "ENGINE": "django.db.backends.mysql",
            "NAME": name,
            "USER": "root",
            "PASSWORD": "",
            "HOST": "127.0.0.1",
            "PORT": "3306",
        }
    raise ValueError(f"unknown vendor {vendor!r}")


def create_database(vendor, name):
    """Create the database ``name`` on the server when it does not exist (no Django)."""
    if vendor == "postgresql":
        import psycopg

        with psycopg.connect(
            host="127.0.0.1", port=5432, user="postgres", dbname="postgres", autocommit=True
        ) as conn:
            if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
                conn.execute(f'CREATE DATABASE "{name}"')
    elif vendor == "mariadb":
        import MySQLdb

        conn = MySQLdb.connect(host="127.0.0.1", port=3306, user="root", passwd="")
        try:
            conn.cursor().execute(f"CREATE DATABASE IF NOT EXISTS `{name}`")
        finally:
            conn.close()

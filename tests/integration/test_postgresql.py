# Copyright: Contributors to s3napback.s3napback
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""PostgreSQL sets against a real server (a private cluster started for the test, run by the postgres user):
one database loaded into a new one and compared row by row, all databases (pg_dumpall) restored to SQL and
replayed into a fresh cluster, a stopped server named in a one-line failure that commits nothing, and a server
killed mid-dump, after which the previous backup still loads."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import pytest

from support.cli import start_cli, wait_while_running


def pg_bin() -> Path:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    assert found, "PostgreSQL server binaries are missing: .ci/run installs the postgresql package"
    return found[-1].parent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Cluster:
    """initdb + pg_ctl as the postgres user, listening only on a socket in its own folder."""

    def __init__(self) -> None:
        assert os.geteuid() == 0, "these tests run as root (as .ci/run does), to run the server as postgres"
        self.dir = tempfile.mkdtemp(prefix="s3nb-pg-", dir="/tmp")  # noqa: S108 - postgres must reach it
        shutil.chown(self.dir, "postgres", "postgres")
        os.chmod(self.dir, 0o755)
        self.port = free_port()
        self.env = {"PGHOST": self.dir, "PGPORT": str(self.port)}
        self.as_postgres(str(pg_bin() / "initdb"), "-D", f"{self.dir}/data", "--auth=trust", "-U", "postgres")
        self.start()

    def as_postgres(self, *argv: str, input: str | None = None) -> str:
        done = subprocess.run(  # noqa: S603
            ["runuser", "-u", "postgres", "--", *argv],  # noqa: S607
            env={**os.environ, **self.env},
            input=input,
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    def start(self) -> None:
        options = f"-k {self.dir} -p {self.port} -c listen_addresses=''"
        # -l: the server's output goes to a log, not to our pipes (which it would otherwise hold open)
        self.as_postgres(
            str(pg_bin() / "pg_ctl"), "-D", f"{self.dir}/data", "-l", f"{self.dir}/log", "-o", options, "-w", "start"
        )

    def stop(self) -> None:
        self.as_postgres(str(pg_bin() / "pg_ctl"), "-D", f"{self.dir}/data", "-m", "fast", "-w", "stop")

    def sql(self, database: str, query: str) -> str:
        return self.as_postgres("psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", database, "-c", query)

    def close(self) -> None:
        subprocess.run(  # noqa: S603
            [
                "runuser",
                "-u",
                "postgres",
                "--",
                str(pg_bin() / "pg_ctl"),
                "-D",
                f"{self.dir}/data",
                "-m",  # noqa: S607
                "immediate",
                "stop",
            ],  # fmt: skip
            capture_output=True,
            check=False,
        )
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def cluster():
    made = Cluster()
    yield made
    made.close()


def fill(cluster: Cluster, database: str, rows: int) -> None:
    cluster.as_postgres("createdb", database)
    cluster.sql(
        database,
        "CREATE TABLE items (id int PRIMARY KEY, name text, price numeric(10,2), at timestamptz);"  # noqa: S608
        f"INSERT INTO items SELECT i, 'item ' || i, i * 1.25, '2026-01-01'::timestamptz + i * interval '1 min'"
        f" FROM generate_series(1, {rows}) i;"
        "CREATE TABLE notes (id serial PRIMARY KEY, body text);"
        "INSERT INTO notes (body) VALUES ('first'), ('second, with ''quotes'''), (NULL);"
        "CREATE VIEW cheap AS SELECT * FROM items WHERE price < 10;",
    )


def checksums(cluster: Cluster, database: str) -> dict[str, str]:
    return {
        table: cluster.sql(
            database,
            f"SELECT count(*) || ':' || md5(string_agg(t::text, '|' ORDER BY id)) FROM {table} t",  # noqa: S608
        )
        for table in ("items", "notes", "cheap")
    }


def pg_conf(make_config, body: str) -> str:
    conf = make_config(chunk_size="256K")
    with open(conf, "a") as handle:
        handle.write(body)
    return conf


def test_one_database_loads_into_a_new_database_with_the_same_rows(cli, cluster, make_config, gpg_keys):
    fill(cluster, "shop", 20000)
    conf = pg_conf(make_config, "<PostgreSQL shop>\n  User postgres\n  Frequency 1\n  Fulls 2\n</PostgreSQL>\n")
    [result] = json.loads(cli("backup", "-c", conf, "--json", env=cluster.env, check=True).stdout)
    assert result["set"] == "postgresql/shop" and result["action"] == "FULL" and result["chunks"] >= 2
    out = cli("restore", "-c", conf, "--set", "postgresql/shop", "--to", "shop_restored", "--load",
              "--gnupghome", gpg_keys.private_home, env=cluster.env, check=True)  # fmt: skip
    assert "shop_restored" in out.stdout
    assert checksums(cluster, "shop_restored") == checksums(cluster, "shop")
    assert checksums(cluster, "shop")["items"].startswith("20000:")

    # a name with "=" is a name: libpq read --dbname=dbname=postgres as a connection string, and the load went
    # into the existing postgres database
    cli("restore", "-c", conf, "--set", "postgresql/shop", "--to", "dbname=postgres", "--load",
        "--gnupghome", gpg_keys.private_home, env=cluster.env, check=True)  # fmt: skip
    assert cluster.sql("postgres", "SELECT count(*) FROM pg_tables WHERE tablename = 'items'").strip() == "0"
    assert "dbname=postgres" in cluster.sql(
        "postgres", "SELECT string_agg(datname, '|') FROM pg_database"
    ).strip().split("|")


def test_all_databases_restore_to_sql_that_rebuilds_them(cli, cluster, make_config, gpg_keys, tmp_path):
    fill(cluster, "alpha", 500)
    fill(cluster, "beta", 700)
    conf = pg_conf(make_config, "<PostgreSQL all>\n  Frequency 1\n  Fulls 2\n</PostgreSQL>\n")
    cli("backup", "-c", conf, env=cluster.env, check=True)
    files = tmp_path / "sql"
    cli("restore", "-c", conf, "--set", "postgresql/all", "--to", files, "--gnupghome", gpg_keys.private_home,
        env=cluster.env, check=True)  # fmt: skip
    [name] = os.listdir(files)
    assert name.endswith(".sql")
    fresh = Cluster()
    try:
        shutil.copy(files / name, Path(fresh.dir) / "all.sql")
        fresh.as_postgres("psql", "-X", "-q", "-d", "postgres", "-f", f"{fresh.dir}/all.sql")
        for database in ("alpha", "beta"):
            assert checksums(fresh, database) == checksums(cluster, database)
    finally:
        fresh.close()


def test_a_stopped_server_fails_with_one_line_and_commits_nothing(cli, cluster, make_config, s3_server, bucket):
    fill(cluster, "shop", 10)
    conf = pg_conf(make_config, "<PostgreSQL shop>\n  Frequency 1\n  Fulls 2\n</PostgreSQL>\n")
    cli("backup", "-c", conf, "--date", "2026-01-05", env=cluster.env, check=True)
    cluster.stop()
    failed = cli("backup", "-c", conf, "--date", "2026-01-06", "--json", env=cluster.env)
    assert failed.returncode == 1 and "Traceback" not in failed.stderr
    [entry] = json.loads(failed.stdout)
    assert entry["action"] == "FAILED" and "pg_dump" in entry["error"] and cluster.dir in entry["error"]
    manifests = [
        o["Key"] for o in s3_server.client().list_objects_v2(Bucket=bucket)["Contents"] if o["Key"].endswith(".json")
    ]
    assert len(manifests) == 1  # only the first day's backup


def test_a_server_killed_mid_dump_commits_nothing_and_the_previous_backup_loads(
    cli, cluster, make_config, gpg_keys, s3_server, bucket
):
    fill(cluster, "big", 400000)  # tens of MB: pg_dump is still copying rows when the server dies
    conf = pg_conf(make_config, "<PostgreSQL big>\n  Frequency 1\n  Fulls 3\n</PostgreSQL>\n")
    cli("backup", "-c", conf, "--date", "2026-01-05", env=cluster.env, check=True)
    before = checksums(cluster, "big")

    def objects() -> int:
        return s3_server.client().list_objects_v2(Bucket=bucket)["KeyCount"]

    count = objects()
    running = start_cli("backup", "-c", conf, "--date", "2026-01-06", "--json", env=cluster.env)
    wait_while_running(running, lambda: objects() > count, "chunk uploaded")
    cluster.as_postgres(str(pg_bin() / "pg_ctl"), "-D", f"{cluster.dir}/data", "-m", "immediate", "stop")
    out, err = running.communicate(timeout=120)
    assert running.returncode == 1 and "Traceback" not in err
    [entry] = json.loads(out)
    assert entry["action"] == "FAILED" and "pg_dump" in entry["error"], entry
    committed = [
        o["Key"] for o in s3_server.client().list_objects_v2(Bucket=bucket)["Contents"] if o["Key"].endswith(".json")
    ]
    assert len(committed) == 1  # only the first day's backup

    cluster.start()
    cli("restore", "-c", conf, "--set", "postgresql/big", "--to", "big_restored", "--load",
        "--gnupghome", gpg_keys.private_home, env=cluster.env, check=True)  # fmt: skip
    assert checksums(cluster, "big_restored") == before

# Copyright: Contributors to s3napback.s3napback
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""MySQL sets against a real MariaDB server (a private instance started for the test, on a socket of its own):
one database, named by the seed's SOCKET:DATABASE form, loaded into a new database and compared table by table
with its routines, triggers and events; all databases through a DefaultsFile holding a backup user's password,
replayed into a fresh server; and a server killed mid-dump, which commits nothing while the previous backup
still restores."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from support.cli import start_cli, wait_while_running

PASSWORD = "s3cr3t-backup-pw"  # a throwaway user of a throwaway server


class Server:
    """mariadb-install-db + mariadbd as the mysql user, without networking, on a socket in its own folder."""

    def __init__(self) -> None:
        assert os.geteuid() == 0, "these tests run as root (as .ci/run does), to run the server as mysql"
        assert shutil.which("mariadbd") or os.path.exists("/usr/sbin/mariadbd"), ".ci/run installs mariadb-server"
        self.dir = tempfile.mkdtemp(prefix="s3nb-my-", dir="/tmp")  # mysql must reach it
        shutil.chown(self.dir, "mysql", "mysql")
        os.chmod(self.dir, 0o755)
        self.socket = f"{self.dir}/sock"
        subprocess.run(
            ["mariadb-install-db", "--no-defaults", "--user=mysql", f"--datadir={self.dir}/data",
             "--auth-root-authentication-method=socket", "--skip-test-db"],
            capture_output=True, check=True,
        )  # fmt: skip
        self.start()

    def start(self) -> None:
        subprocess.Popen(
            ["/usr/sbin/mariadbd", "--no-defaults", "--user=mysql", f"--datadir={self.dir}/data",
             f"--socket={self.socket}", "--skip-networking", f"--pid-file={self.dir}/pid",
             f"--log-error={self.dir}/err", "--innodb-buffer-pool-size=64M"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
        for _attempt in range(150):
            ping = subprocess.run(
                ["mariadb-admin", "--no-defaults", f"--socket={self.socket}", "-u", "root", "ping"],
                capture_output=True, check=False,
            )  # fmt: skip
            if ping.returncode == 0:
                return
            time.sleep(0.2)
        raise AssertionError(f"mariadbd did not start: {Path(self.dir, 'err').read_text()[-2000:]}")

    def kill(self) -> None:
        pid = int(Path(self.dir, "pid").read_text())
        os.kill(pid, signal.SIGKILL)
        for _attempt in range(100):
            if not os.path.exists(f"/proc/{pid}"):
                return
            time.sleep(0.05)

    def sql(self, query: str, database: str = "") -> str:
        done = subprocess.run(
            ["mariadb", "--no-defaults", f"--socket={self.socket}", "-u", "root", "--batch", "--skip-column-names",
             *([f"--database={database}"] if database else []), "-e", query],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()

    def close(self) -> None:
        try:
            self.kill()
        except (OSError, ValueError):
            pass
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def server():
    made = Server()
    yield made
    made.close()


def fill(server: Server, database: str, rows: int) -> None:
    server.sql(f"CREATE DATABASE {database}")
    server.sql(
        "CREATE TABLE items (id INT PRIMARY KEY, name VARCHAR(100), price DECIMAL(10,2), at DATETIME, raw BLOB);"
        f"INSERT INTO items SELECT seq, CONCAT('item ', seq), seq * 1.25, '2026-01-01' + INTERVAL seq MINUTE,"
        f" UNHEX(MD5(seq)) FROM seq_1_to_{rows};"
        "CREATE TABLE notes (id INT AUTO_INCREMENT PRIMARY KEY, body TEXT);"
        "INSERT INTO notes (body) VALUES ('first'), ('second, with ''quotes'' and \\\\ backslash'), (NULL);"
        "CREATE VIEW cheap AS SELECT id, name FROM items WHERE price < 10;"
        "CREATE FUNCTION double_it (x INT) RETURNS INT DETERMINISTIC RETURN x * 2;"
        "CREATE TRIGGER notes_upper BEFORE INSERT ON notes FOR EACH ROW SET NEW.body = UPPER(NEW.body);"
        "CREATE EVENT tidy ON SCHEDULE EVERY 1 DAY DISABLE DO DELETE FROM notes WHERE body IS NULL;",
        database,
    )


def checksums(server: Server, database: str) -> dict[str, str]:
    """Rows of every table and view, and the routines, triggers and events, each as count:md5."""
    tables = {
        "items": "CONCAT_WS('|', id, name, price, at, HEX(raw))",
        "notes": "CONCAT_WS('|', id, IFNULL(body, '<null>'))",
        "cheap": "CONCAT_WS('|', id, name)",
    }
    found = {
        table: server.sql(
            "SET SESSION group_concat_max_len = 1 << 30;"
            f"SELECT CONCAT(COUNT(*), ':', MD5(GROUP_CONCAT({row} ORDER BY id SEPARATOR '\\n'))) FROM {table}",
            database,
        )
        for table, row in tables.items()
    }
    for what, query in {
        "routines": f"SELECT ROUTINE_NAME, ROUTINE_DEFINITION FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = '{database}'",  # noqa: E501
        "triggers": f"SELECT TRIGGER_NAME, ACTION_STATEMENT FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = '{database}'",  # noqa: E501
        "events": f"SELECT EVENT_NAME, EVENT_DEFINITION FROM information_schema.EVENTS WHERE EVENT_SCHEMA = '{database}'",  # noqa: E501
    }.items():
        found[what] = server.sql(query)
    return found


def my_conf(make_config, body: str) -> str:
    conf = make_config(chunk_size="1M")
    with open(conf, "a") as handle:
        handle.write(body)
    return conf


def object_count(s3_server, bucket: str) -> int:
    return s3_server.client().list_objects_v2(Bucket=bucket)["KeyCount"]


def test_one_database_by_socket_loads_into_a_new_database_with_the_same_rows(cli, server, make_config, gpg_keys):
    fill(server, "shop", 30000)
    name = f"mysql/{server.socket}:shop"
    conf = my_conf(make_config, f"<MySQL {server.socket}:shop>\n  Frequency 1\n  Fulls 2\n</MySQL>\n")
    [result] = json.loads(cli("backup", "-c", conf, "--json", check=True).stdout)
    assert result["set"] == name and result["action"] == "FULL" and result["chunks"] >= 2
    out = cli("restore", "-c", conf, "--set", name, "--to", "shop_restored", "--load",
              "--gnupghome", gpg_keys.private_home, check=True)  # fmt: skip
    assert "shop_restored" in out.stdout
    original = checksums(server, "shop")
    assert original["items"].startswith("30000:") and "double_it" in original["routines"]
    assert "notes_upper" in original["triggers"] and "tidy" in original["events"]
    assert checksums(server, "shop_restored") == original

    again = cli("restore", "-c", conf, "--set", name, "--to", "shop_restored", "--load",
                "--gnupghome", gpg_keys.private_home)  # fmt: skip
    assert again.returncode != 0 and "Traceback" not in again.stderr
    assert "shop_restored" in again.stderr and "exists" in again.stderr  # never loads over a database
    assert checksums(server, "shop_restored") == original


def test_all_databases_through_a_defaults_file_replay_into_a_fresh_server(cli, server, make_config, gpg_keys, tmp_path):
    fill(server, "alpha", 500)
    fill(server, "beta", 700)
    server.sql(
        f"CREATE USER backup@localhost IDENTIFIED BY '{PASSWORD}';"
        "GRANT SELECT, SHOW VIEW, TRIGGER, EVENT, LOCK TABLES, EXECUTE, RELOAD ON *.* TO backup@localhost"
    )
    defaults = tmp_path / "backup.cnf"
    defaults.write_text(f"[client]\nuser=backup\npassword={PASSWORD}\nsocket={server.socket}\n")
    defaults.chmod(0o600)
    conf = my_conf(make_config, f"<MySQL all>\n  DefaultsFile {defaults}\n  Frequency 1\n  Fulls 2\n</MySQL>\n")
    done = cli("backup", "-c", conf, "-d", check=True)
    assert PASSWORD not in done.stdout + done.stderr  # not even at debug level
    files = tmp_path / "sql"
    cli("restore", "-c", conf, "--set", "mysql/all", "--to", files, "--gnupghome", gpg_keys.private_home, check=True)
    [name] = os.listdir(files)
    assert name.endswith(".sql")
    refused = cli("restore", "-c", conf, "--set", "mysql/all", "--to", "x", "--load",
                  "--gnupghome", gpg_keys.private_home)  # fmt: skip
    assert refused.returncode != 0 and "every database" in refused.stderr
    fresh = Server()
    try:
        with open(files / name, "rb") as dump:
            subprocess.run(
                ["mariadb", "--no-defaults", f"--socket={fresh.socket}", "-u", "root", "--binary-mode"],
                stdin=dump, capture_output=True, check=True,
            )  # fmt: skip
        for database in ("alpha", "beta"):
            assert checksums(fresh, database) == checksums(server, database)
    finally:
        fresh.close()


def test_a_server_killed_mid_dump_commits_nothing_and_the_previous_backup_restores(
    cli, server, make_config, gpg_keys, s3_server, bucket, tmp_path
):
    fill(server, "big", 400000)  # ~40 MB of SQL: the dump is still running when the server dies
    conf = my_conf(make_config, "<MySQL big>\n  Frequency 1\n  Fulls 3\n</MySQL>\n")
    home = tmp_path / "home"  # the user's own option file says where the server is
    home.mkdir()
    (home / ".my.cnf").write_text(f"[client]\nsocket={server.socket}\n")
    env = {"HOME": str(home)}
    cli("backup", "-c", conf, "--date", "2026-01-05", env=env, check=True)
    before = checksums(server, "big")
    objects_before = object_count(s3_server, bucket)

    running = start_cli("backup", "-c", conf, "--date", "2026-01-06", "--json", env=env)
    wait_while_running(running, lambda: object_count(s3_server, bucket) > objects_before, "chunk uploaded")
    server.kill()
    out, err = running.communicate(timeout=120)
    assert running.returncode == 1 and "Traceback" not in err
    [entry] = json.loads(out)
    assert entry["action"] == "FAILED" and ("mariadb-dump" in entry["error"] or "mysqldump" in entry["error"])
    assert "Lost connection" in entry["error"] or "server has gone away" in entry["error"], entry["error"]
    assert len(s3_server.manifest_keys(bucket)) == 1  # only the first day's backup is committed

    server.start()  # crash recovery; the first backup loads into a new database with the rows it had
    cli("restore", "-c", conf, "--set", "mysql/big", "--to", "big_restored", "--load",
        "--gnupghome", gpg_keys.private_home, env=env, check=True)  # fmt: skip
    assert checksums(server, "big_restored") == before

# Copyright: Contributors to s3napback.s3napback
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Unit tests of the configuration parser."""

from __future__ import annotations

import io
import logging
import re
import socket
import sys
import textwrap
import typing as t
from pathlib import Path

import pytest

from _s3napback.config import BackupSet, Config, Schedule, load_config, parse_config
from _s3napback.credentials import read_credentials
from _s3napback.errors import ConfigError

# The seed's example config, verbatim (its last block is closed by the wrong tag, at line 70).
SEED_EXAMPLE = """\
DiffDir /home/s3backup/diffs
Bucket dev.davidsoergel.com.backup1
GpgRecipient backup@davidsoergel.com
S3Keyfile /home/s3backup/key.txt
ChunkSize 25000000

NotifyEmail me@example.com      # not implemented yet
LogFile /var/log/s3napback.log  # not implemented yet
LogLevel 2                      # not implemented yet

# make diffs of these every day, store fulls once a week, and keep two weeks
<Cycle>
\tFrequency 1
\tDiffs 7
\tFulls 2

\tDirectory /etc
\tDirectory /home/build
\tDirectory /home/notebook
\tDirectory /home/s3backup
\tDirectory /home/trac
\tDirectory /usr
\tDirectory /var
</Cycle>

# make diffs of these every week, store fulls once a month, and keep two months
<Cycle>
\tFrequency 7
\tDiffs 4
\tFulls 2
\t
\tDirectory /bin
\tDirectory /boot
\tDirectory /lib
\tDirectory /lib64
\tDirectory /opt
\tDirectory /root
\tDirectory /sbin
</Cycle>

# make a diff of this every day, store fulls once a week, and keep eight weeks
<Directory /home/foobar>
\tFrequency 1
\tDiffs 7
\tFulls 8
</Directory>
\t
# store a MySQL dump of all databases every day, keeping 14.
<MySQL all>
\tFrequency 1
\tFulls 14
</MySQL>

# store a MySQL dump of a specific database every day, keeping 14.
<MySQL mydatabase>
\tFrequency 1
\tFulls 14
</MySQL>

# store a full dump of all Subversion repos every day, keeping 10.
<SubversionDir /home/svn/repos>
 \tFrequency 1
\tFulls 10
</SubversionDir>

# store a full dump of a specific Subversion repo every day, keeping 10.
<Subversion /home/svn/repos/myproject>
 \tFrequency 1
\tFulls 10
</SubversionDir>
"""


def seed_fixed() -> str:
    """The seed example with its last closing tag corrected."""
    lines = SEED_EXAMPLE.splitlines()
    assert lines[69] == "</SubversionDir>"
    lines[69] = "</Subversion>"
    return "\n".join(lines) + "\n"


def by_name(config: Config) -> t.Dict[str, BackupSet]:
    return {s.name: s for s in config.sets}


def parse(text: str) -> Config:
    return parse_config(textwrap.dedent(text), "t.conf")


def raises(pattern: str) -> t.Any:
    """pytest.raises for a ConfigError whose message starts with pattern (a regex)."""
    return pytest.raises(ConfigError, match="^" + pattern)


# -- the seed ------------------------------------------------------------------------------------------


def test_seed_example_fails_on_its_mismatched_closing_tag() -> None:
    expected = (
        "seed.conf:70: </SubversionDir> does not close <Subversion /home/svn/repos/myproject> opened at line 67;"
        " expected </Subversion>"
    )
    with pytest.raises(ConfigError) as info:
        parse_config(SEED_EXAMPLE, "seed.conf")
    assert str(info.value) == expected
    assert info.value.exit_code == 2


def test_seed_example_fixed_globals() -> None:
    config = parse_config(seed_fixed(), "seed.conf")
    assert config.source == "seed.conf"
    assert config.diff_dir == "/home/s3backup/diffs"
    assert config.bucket == "dev.davidsoergel.com.backup1"
    assert config.gpg_recipients == ["backup@davidsoergel.com"]
    assert config.s3_key_file == "/home/s3backup/key.txt"
    assert config.chunk_size == 25000000
    assert config.notify_email == ["me@example.com"]
    assert config.log_file == "/var/log/s3napback.log"
    assert config.log_level == 2
    assert (config.compression, config.compression_level, config.encryption) == ("zstd", 3, "gpg")
    assert (config.parallel, config.s3_prefix, config.s3_addressing_style) == (4, "", "auto")
    assert config.object_lock is None and config.s3_endpoint is None


def test_seed_example_fixed_sets() -> None:
    config = parse_config(seed_fixed(), "seed.conf")
    assert [s.name for s in config.sets] == [
        "/etc",
        "/home/build",
        "/home/notebook",
        "/home/s3backup",
        "/home/trac",
        "/usr",
        "/var",
        "/bin",
        "/boot",
        "/lib",
        "/lib64",
        "/opt",
        "/root",
        "/sbin",
        "/home/foobar",
        "mysql/all",
        "mysql/mydatabase",
        "svn/home/svn/repos",
        "svn/home/svn/repos/myproject",
    ]
    sets = by_name(config)
    assert sets["/etc"].schedule == Schedule(frequency=1, diffs=7, fulls=2)
    assert sets["/etc"].origin == "seed.conf:17"
    assert sets["/etc"].kind == "directory" and sets["/etc"].cycle is None
    assert sets["/var"].schedule == Schedule(frequency=1, diffs=7, fulls=2)
    assert sets["/bin"].schedule == Schedule(frequency=7, diffs=4, fulls=2)
    assert sets["/sbin"].schedule.slots == 8
    assert sets["/home/foobar"].schedule == Schedule(frequency=1, diffs=7, fulls=8)
    assert sets["/home/foobar"].origin == "seed.conf:42"
    assert sets["mysql/all"].kind == "mysql" and sets["mysql/all"].source == "all"
    assert sets["mysql/all"].schedule == Schedule(frequency=1, diffs=1, fulls=14)
    assert sets["mysql/all"].schedule.slots == 14
    assert sets["mysql/mydatabase"].schedule.fulls == 14
    svndir = sets["svn/home/svn/repos"]
    assert (svndir.kind, svndir.source, svndir.schedule) == (
        "subversiondir",
        "/home/svn/repos",
        Schedule(frequency=1, diffs=1, fulls=10),
    )
    svn = sets["svn/home/svn/repos/myproject"]
    assert (svn.kind, svn.source, svn.origin) == ("subversion", "/home/svn/repos/myproject", "seed.conf:67")
    assert svn.schedule.slots == 10


# -- lexical rules -------------------------------------------------------------------------------------


def test_directive_block_and_keyword_case_is_ignored() -> None:
    config = parse(
        """\
        s3keyfile /k
        BUCKET b
        compression GZIP 9
        ENCRYPTION None
        <cycle Daily>
          frequency 2
          DIFFS 3
          fUlLs 4
          directory /srv
        </CYCLE>
        <mysql db>
          FREQUENCY 1
          fulls 3
          defaultsfile /root/.my.cnf
        </MySql>
        """
    )
    assert (config.s3_key_file, config.bucket) == ("/k", "b")
    assert (config.compression, config.compression_level, config.encryption) == ("gzip", 9, "none")
    sets = by_name(config)
    assert sets["/srv"].schedule == Schedule(frequency=2, diffs=3, fulls=4)
    assert sets["/srv"].cycle == "Daily"
    assert sets["mysql/db"].options == {"defaultsfile": "/root/.my.cnf"}


def test_comments_after_values_and_hash_inside_quotes() -> None:
    config = parse(
        """\
        # a whole-line comment
          # an indented one
        Bucket b   # the bucket
        NotifyEmail me@example.com      # not implemented yet
        LogLevel 3# glued comment
        Exclude "*#keep*"   # quoted hash is data
        <Directory /data> # comment after a tag
          Frequency 1 # daily
          Diffs 7
          Fulls 2
        </Directory>   # end
        """
    )
    assert config.bucket == "b"
    assert config.notify_email == ["me@example.com"]
    assert config.log_level == 3
    assert by_name(config)["/data"].excludes == ("*#keep*",)


def test_quoted_values() -> None:
    config = parse(
        r"""
        Frequency 1
        Diffs 7
        Fulls 2
        Exclude "*.tmp files"
        Exclude "say \"hi\"" # escaped quotes
        Directory "/srv/my data"
        <Directory "/srv/other data/">
          Exclude "a b"
        </Directory>
        """
    )
    sets = by_name(config)
    assert sets["/srv/my data"].excludes == ("*.tmp files", 'say "hi"')
    assert sets["/srv/other data"].source == "/srv/other data/"
    assert sets["/srv/other data"].excludes == ("*.tmp files", 'say "hi"', "a b")


def test_unterminated_quote() -> None:
    with raises('t.conf:2: unterminated quoted value; expected a closing "'):
        parse('Bucket b\nExclude "abc\n')


def test_windows_line_endings_and_bom() -> None:
    config = parse_config("\ufeffBucket b\r\nDiffDir /d\r\n", "t.conf")
    assert (config.bucket, config.diff_dir) == ("b", "/d")


# -- sets, inheritance ---------------------------------------------------------------------------------


def test_inline_form_overrides_cycle_and_top_level() -> None:
    config = parse(
        """\
        Frequency 3
        Phase 2
        Directory /top-inline 5 6 7
        Directory /top-plain
        <Cycle>
          Frequency 1
          Diffs 7
          Fulls 2
          Directory /a
          Directory /b 7 4 3
          MySQL all 2 9 5
          Subversion /repo 1 0 10
          Subversion /repo2 1 3 10
        </Cycle>
        Diffs 4
        Fulls 9
        """
    )
    sets = by_name(config)
    assert sets["/top-inline"].schedule == Schedule(frequency=5, diffs=6, fulls=7, phase=2)
    # Top-level defaults apply wherever they appear in the file.
    assert sets["/top-plain"].schedule == Schedule(frequency=3, diffs=4, fulls=9, phase=2)
    assert sets["/a"].schedule == Schedule(frequency=1, diffs=7, fulls=2, phase=2)
    assert sets["/b"].schedule == Schedule(frequency=7, diffs=4, fulls=3, phase=2)
    assert sets["mysql/all"].schedule == Schedule(frequency=2, diffs=1, fulls=5, phase=2)
    assert sets["svn/repo"].schedule.diffs == 0
    assert sets["svn/repo"].schedule.slots == 10
    assert sets["svn/repo2"].schedule.diffs == 3
    assert sets["/b"].origin == "t.conf:10"


def test_set_block_overrides_top_level_and_dumps_ignore_diffs() -> None:
    config = parse(
        """\
        Frequency 2
        Diffs 5
        Fulls 3
        <Directory /x>
          Fulls 6
        </Directory>
        <PostgreSQL app>
          Diffs 9
          User backup
        </PostgreSQL>
        <SubversionDir /svn>
        </SubversionDir>
        <Subversion /svn1>
          Diffs 4
        </Subversion>
        """
    )
    sets = by_name(config)
    assert sets["/x"].schedule == Schedule(frequency=2, diffs=5, fulls=6)
    assert sets["postgresql/app"].schedule == Schedule(frequency=2, diffs=1, fulls=3)
    assert sets["postgresql/app"].options == {"user": "backup"}
    # Subversion is full unless Diffs is given on the set itself.
    assert sets["svn/svn"].schedule.diffs == 1
    assert sets["svn/svn1"].schedule.diffs == 4


def test_excludes_accumulate_for_directories_only() -> None:
    config = parse(
        """\
        Frequency 1
        Diffs 1
        Fulls 1
        Exclude *.tmp
        <Cycle c>
          Exclude *.cache
          Directory /a
          MySQL all
        </Cycle>
        <Directory /b>
          Exclude *.o
          Exclude *.tmp
        </Directory>
        Directory /c
        """
    )
    sets = by_name(config)
    assert sets["/a"].excludes == ("*.tmp", "*.cache")
    assert sets["/b"].excludes == ("*.tmp", "*.o")
    assert sets["/c"].excludes == ("*.tmp",)
    assert sets["mysql/all"].excludes == ()
    assert sets["mysql/all"].cycle == "c"


def test_exclude_in_a_dump_block_is_an_error() -> None:
    with raises(r"t.conf:2: Exclude applies to directories only and cannot appear in <MySQL all>"):
        parse("<MySQL all>\nExclude x\n</MySQL>\n")


def test_set_names_are_normalised() -> None:
    config = parse("Frequency 1\nDiffs 1\nFulls 1\nDirectory /srv//data/\nSubversionDir /var/svn/\nDirectory /\n")
    assert [s.name for s in config.sets] == ["/srv/data", "svn/var/svn", "/"]
    assert config.sets[0].source == "/srv//data/"


@pytest.mark.parametrize(
    ("line", "count"),
    [("Directory", 0), ("Directory /a 1", 2), ("MySQL all 1 0", 3), ("Subversion /r 1 0 10 3", 5)],
)
def test_set_line_argument_counts(line: str, count: int) -> None:
    with raises(rf"t.conf:3: {line.split()[0]} expects 1 value \((PATH|NAME)\) or 4 .*, got {count}$"):
        parse(f"Bucket b\n<Cycle>\n{line}\n</Cycle>\n")


def test_set_line_values_must_be_numbers() -> None:
    with raises(r"t.conf:1: Diffs on the Directory line expects a whole number >= 0, got 'x'$"):
        parse("Directory /a 1 x 2\n")
    with raises(r"t.conf:1: Frequency on the MySQL line expects a whole number of days >= 1, got '0'$"):
        parse("MySQL all 0 0 2\n")


def test_frequency_must_be_a_whole_number() -> None:
    with raises(r"t.conf:3: Frequency expects a whole number of days >= 1, got 'x'$"):
        parse("<Cycle>\n  Diffs 1\n  Frequency x\n</Cycle>\n")
    with raises(r"t.conf:1: Fulls expects a whole number of cycles >= 1, got '-1'$"):
        parse("Fulls -1\n")
    with raises(r"t.conf:1: Phase expects one value \(a whole number of days >= 0\), got 2$"):
        parse("Phase 1 2\n")


def test_paths_must_be_absolute_and_names_plain() -> None:
    with raises(r"t.conf:2: Directory expects an absolute path, got 'etc'$"):
        parse("Frequency 1\nDirectory etc\n")
    with raises(r"t.conf:1: <Subversion> expects one value \(PATH\), got 0"):
        parse("<Subversion>\n</Subversion>\n")
    plain = r"expects a database name \(or 'all'\) without '/' or a leading '-', got"
    with raises(rf"t.conf:1: MySQL {plain} 'a/b'$"):
        parse("MySQL a/b\n")
    with raises(rf"t.conf:1: PostgreSQL {plain} '-x'$"):
        parse("PostgreSQL -x\n")
    with raises(r"t.conf:1: MySQL expects SOCKET:DATABASE with an absolute socket path, got '/run/my.sock'$"):
        parse("MySQL /run/my.sock\n")


def test_mysql_socket_form_names_the_server_and_the_database() -> None:
    config = parse("Frequency 1\nFulls 3\nMySQL /run/mysqld/mysqld.sock:shop\n")
    [mysql] = config.sets
    assert (mysql.name, mysql.source) == ("mysql//run/mysqld/mysqld.sock:shop", "/run/mysqld/mysqld.sock:shop")


def test_missing_timing_names_the_set_and_where_to_put_it() -> None:
    with raises(
        r"t.conf:3: Directory /a has no Diffs and Fulls; add Diffs and Fulls to <Cycle> \(line 1\) or at top level,"
        r" or write Directory /a FREQUENCY DIFFS FULLS$"
    ):
        parse("<Cycle>\nFrequency 1\nDirectory /a\n</Cycle>\n")
    with raises(r"t.conf:2: MySQL db has no Frequency; add Frequency inside <MySQL db> or at top level$"):
        parse("Fulls 2\n<MySQL db>\n</MySQL>\n")
    with raises(r"t.conf:1: Directory /b has no Frequency and Diffs and Fulls; add .* at top level, or write"):
        parse("Directory /b\n")


def test_schedule_properties() -> None:
    assert Schedule(frequency=1, diffs=0, fulls=3).cycle_length == 1
    assert Schedule(frequency=1, diffs=0, fulls=3).slots == 3
    assert Schedule(frequency=1, diffs=7, fulls=2).slots == 14


# -- structure errors ----------------------------------------------------------------------------------


def test_unknown_directive_names_the_line_and_suggests() -> None:
    with raises(r"t.conf:3: unknown directive 'Frequncy' in <Cycle> \(line 2\); did you mean Frequency\?$"):
        parse("Bucket b\n<Cycle>\nFrequncy 1\n</Cycle>\n")
    with raises(r"t.conf:1: unknown directive 'Zzz' at top level; expected one of DiffDir, Bucket,"):
        parse("Zzz 1\n")
    with raises(r"t.conf:2: unknown directive 'Password' in <MySQL db> \(line 1\); expected one of Frequency"):
        parse("<MySQL db>\nPassword x\n</MySQL>\n")


def test_option_in_the_wrong_block() -> None:
    with raises(r"t.conf:2: User is allowed only in a <PostgreSQL NAME> block$"):
        parse("<MySQL db>\nUser x\n</MySQL>\n")


def test_global_directive_inside_a_block() -> None:
    with raises(
        r"t.conf:3: Bucket is a global directive and cannot appear in <Cycle weekly> opened at line 2;"
        r" move it to the top level$"
    ):
        parse("DiffDir /d\n<Cycle weekly>\n  Bucket b\n</Cycle>\n")
    with raises(r"t.conf:2: ChunkSize is a global directive and cannot appear in <Directory /x>"):
        parse("<Directory /x>\nChunkSize 1M\n</Directory>\n")


def test_blocks_do_not_nest() -> None:
    with raises(r"t.conf:2: <Cycle> cannot be inside <Cycle> opened at line 1; blocks do not nest"):
        parse("<Cycle>\n<Cycle>\n</Cycle>\n</Cycle>\n")
    with raises(r"t.conf:3: <Directory> cannot be inside <Cycle c> opened at line 1;"):
        parse("<Cycle c>\nFrequency 1\n<Directory /x>\n</Directory>\n</Cycle>\n")
    with raises(r"t.conf:2: <Cycle> cannot be inside <MySQL all> opened at line 1;"):
        parse("<MySQL all>\n<Cycle>\n</Cycle>\n</MySQL>\n")
    with raises(r"t.conf:2: Directory cannot appear in <Directory /x> opened at line 1; declare sets at top"):
        parse("<Directory /x>\nDirectory /y\n</Directory>\n")


def test_unclosed_block() -> None:
    with raises(r"t.conf:2: <Cycle> opened here is never closed; expected </Cycle>$"):
        parse("Bucket b\n<Cycle>\nFrequency 1\n\n")
    with raises(r"t.conf:1: <mysql all> opened here is never closed; expected </mysql>$"):
        parse("<mysql all>\n")


def test_stray_and_malformed_tags() -> None:
    with raises(r"t.conf:3: </Cycle> closes nothing; no block is open here$"):
        parse("<Cycle>\n</Cycle>\n</Cycle>\n")
    with raises(r"t.conf:1: block tag '<Cycle' does not end with '>'"):
        parse("<Cycle\n")
    with raises(r"t.conf:1: unknown block <Directories>;"):
        parse("<Directories /x>\n</Directories>\n")
    with raises(r"t.conf:2: closing tag '</Cycle x>' is malformed"):
        parse("<Cycle>\n</Cycle x>\n")


def test_duplicates() -> None:
    with raises(r"t.conf:5: Directory /etc/ duplicates the set /etc declared at line 4; declare each set once$"):
        parse("Frequency 1\nDiffs 1\nFulls 1\nDirectory /etc\nDirectory /etc/\n")
    with raises(r"t.conf:2: Subversion /r duplicates the set svn/r declared at line 1; declare each set once$"):
        parse("SubversionDir /r\nSubversion /r\n")
    with raises(r"t.conf:3: Bucket is already set at line 1 at top level; give it once$"):
        parse("Bucket a\n\nBucket b\n")
    with raises(r"t.conf:3: Fulls is already set at line 2 in <Cycle> \(line 1\); give it once$"):
        parse("<Cycle>\nFulls 1\nFulls 2\n</Cycle>\n")
    with raises(r"t.conf:3: <Cycle x> is already declared at line 1; give each cycle its own name$"):
        parse("<Cycle x>\n</Cycle>\n<Cycle x>\n</Cycle>\n")


def test_repeatable_directives_accumulate() -> None:
    config = parse("GpgRecipient a@x b@x\nGpgRecipient c@x\nGpgRecipient a@x\nNotifyEmail m@x\nNotifyEmail n@x\n")
    assert config.gpg_recipients == ["a@x", "b@x", "c@x"]
    assert config.notify_email == ["m@x", "n@x"]


# -- global values -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "size"),
    [
        ("25000000", 25000000),
        ("64K", 65536),
        ("64KiB", 65536),
        ("64M", 64 * 1024 * 1024),
        ("8mib", 8 * 1024 * 1024),
        ("1G", 1024**3),
        ("5GiB", 5 * 1024**3),
    ],
)
def test_chunk_size_suffixes(value: str, size: int) -> None:
    assert parse(f"ChunkSize {value}\n").chunk_size == size


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("65535", r"ChunkSize 65535 is 65535 bytes; expected between 64KiB and 5GiB"),
        ("6G", r"ChunkSize 6G is 6442450944 bytes; expected between 64KiB and 5GiB"),
        ("64MB", r"ChunkSize expects a number of bytes, optionally with K, M, G, KiB, MiB or GiB, got '64MB'"),
        ("-1", r"ChunkSize expects a number of bytes"),
    ],
)
def test_chunk_size_limits(value: str, message: str) -> None:
    with raises(rf"t.conf:2: {message}"):
        parse(f"Bucket b\nChunkSize {value}\n")


def test_compression() -> None:
    assert parse("").compression_level == 3
    config = parse("Compression zstd 19\n")
    assert (config.compression, config.compression_level) == ("zstd", 19)
    config = parse("Compression gzip\n")
    assert (config.compression, config.compression_level) == ("gzip", 6)
    config = parse("Compression none\n")
    assert (config.compression, config.compression_level) == ("none", None)
    with raises(r"t.conf:1: Compression zstd expects a level from 1 to 19, got '20'$"):
        parse("Compression zstd 20\n")
    with raises(r"t.conf:1: Compression gzip expects a level from 1 to 9, got '0'$"):
        parse("Compression gzip 0\n")
    with raises(r"t.conf:1: Compression none takes no level"):
        parse("Compression none 1\n")
    with raises(r"t.conf:1: Compression expects zstd, gzip or none, got 'xz'$"):
        parse("Compression xz\n")


def test_other_global_values(monkeypatch: pytest.MonkeyPatch) -> None:
    config = parse(
        """\
        LogLevel debug
        S3Endpoint https://s3.example.com:9000
        S3Region eu-west-1
        S3Prefix /backups/fleet/
        S3AddressingStyle Path
        HostName web1.example.com
        Parallel 16
        GpgKeyring /etc/s3napback/pubring.kbx
        ObjectLock Governance 3
        """
    )
    assert config.log_level == 3
    assert config.s3_endpoint == "https://s3.example.com:9000"
    assert config.s3_region == "eu-west-1"
    assert config.s3_prefix == "backups/fleet"
    assert config.s3_addressing_style == "path"
    assert config.host_name == "web1.example.com"
    assert config.parallel == 16
    assert (config.object_lock, config.object_lock_margin_days) == ("GOVERNANCE", 3)
    assert parse("ObjectLock compliance\n").object_lock_margin_days == 7
    assert parse("ObjectLock none\n").object_lock is None
    assert config.gpg_keyring == "/etc/s3napback/pubring.kbx"
    assert parse('S3Prefix ""\n').s3_prefix == ""
    assert parse("LogLevel 4\n").log_level == 4
    assert parse("LogLevel Warning\n").log_level == 1
    monkeypatch.setattr(socket, "getfqdn", lambda: "host.example.org")
    assert parse("").host_name == "host.example.org"


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("LogLevel 5", r"LogLevel expects 0..4 or error, warning, info, debug, got '5'$"),
        ("S3Endpoint s3.example.com", r"S3Endpoint expects a URL starting with http:// or https://"),
        ("S3AddressingStyle dns", r"S3AddressingStyle expects auto, path or virtual, got 'dns'$"),
        ("Parallel 0", r"Parallel expects a whole number of parallel uploads from 1 to 64, got '0'$"),
        ("Parallel 65", r"Parallel expects a whole number of parallel uploads from 1 to 64, got '65'$"),
        ("Encryption aes", r"Encryption expects gpg or none, got 'aes'$"),
        ("DiffDir diffs", r"DiffDir expects an absolute path, got 'diffs'$"),
        ("Bucket a/b", r"Bucket expects a bucket name without '/'"),
        ("Bucket Bad_Bucket!!", r"Bucket expects letters, digits, '.', '-' and '_' only, got 'Bad_Bucket!!'$"),
        ("S3Endpoint http://[::1", r"S3Endpoint expects a URL, and this one cannot be read: Invalid IPv6 URL$"),
        ("HeartbeatUrl https://hc.example:port/x", r"HeartbeatUrl expects a URL, and this one cannot be read: Port"),
        ("HeartbeatUrl https:///x", r"HeartbeatUrl expects a URL starting with http:// or https:// and a host$"),
        (
            "HeartbeatUrl https://hc.example/ping/T\u00d6KEN",
            r"HeartbeatUrl holds characters a URL cannot carry as they are \(non-ASCII or control ones\); "
            r"percent-encode them$",
        ),
        ("HostName a/b", r"HostName expects a non-empty name without '/'"),
        ("Bucket", r"Bucket expects one value \(NAME\), got 0$"),
    ],
)
def test_bad_global_values(line: str, message: str) -> None:
    with raises(rf"t.conf:2: {message}"):
        parse(f"# first line\n{line}\n")


def test_cycle_type_options_are_stored() -> None:
    config = parse(
        """\
        CycleType simplecycle
        Discs 6
        <Directory /x>
          Frequency 1
          Diffs 1
          Fulls 2
          ArchiveOldestDisc yes
        </Directory>
        """
    )
    schedule = config.sets[0].schedule
    assert (schedule.cycle_type, schedule.discs, schedule.archive_oldest_disc) == ("SimpleCycle", 6, True)
    with raises(r"t.conf:1: CycleType expects SimpleCycle, HanoiCycle or GFSCycle, got 'Other'$"):
        parse("CycleType Other\n")
    with raises(r"t.conf:1: ArchiveOldestDisc expects yes or no, got 'maybe'$"):
        parse("ArchiveOldestDisc maybe\n")


def test_storage_classes_are_set_wide_defaults_or_per_set() -> None:
    config = parse(
        """\
        Frequency 1
        Diffs 1
        Fulls 2
        StorageClass STANDARD_IA
        Directory /etc
        <Directory /srv>
          CycleType HanoiCycle
          Discs 4
          ArchiveOldestDisc yes
          ArchiveStorageClass GLACIER_IR
        </Directory>
        <Directory /tmp>
          StorageClass ONEZONE_IA
        </Directory>
        """
    )
    classes = {s.name: (s.storage_class, s.archive_storage_class) for s in config.sets}
    assert classes == {
        "/etc": ("STANDARD_IA", "STANDARD_IA"),
        "/srv": ("STANDARD_IA", "GLACIER_IR"),
        "/tmp": ("ONEZONE_IA", "ONEZONE_IA"),
    }
    with raises(r"t.conf:1: StorageClass expects a storage class name such as STANDARD_IA, got 'a b'"):
        parse('StorageClass "a b"\n')
    with raises(r"t.conf:1: ObjectLock expects none, governance or compliance, and optionally a margin in days"):
        parse("ObjectLock legal\n")


def test_hanoi_needs_discs_and_makes_fulls_only() -> None:
    config = parse(
        """\
        Frequency 1
        Diffs 7
        Fulls 2
        <Cycle tower>
          CycleType hanoicycle
          Discs 5
          ArchiveOldestDisc yes
          Directory /srv
        </Cycle>
        Directory /etc
        """
    )
    sets = by_name(config)
    hanoi = sets["/srv"].schedule
    assert (hanoi.cycle_type, hanoi.discs, hanoi.archive_oldest_disc) == ("HanoiCycle", 5, True)
    assert (hanoi.cycle_length, hanoi.slots) == (1, 5)
    assert sets["/etc"].schedule.cycle_type == "SimpleCycle" and sets["/etc"].schedule.slots == 14
    with raises(r"t.conf:2: Directory /x has no Discs; add Discs inside <Directory /x> or at top level"):
        parse("Frequency 1\n<Directory /x>\nCycleType HanoiCycle\n</Directory>\n")


def test_gfs_keeps_by_the_calendar_and_needs_something_to_keep() -> None:
    config = parse(
        """\
        <Directory /srv>
          CycleType GFSCycle
          Frequency 1
          Diffs 7
          KeepDaily 7
          KeepWeekly 4
          KeepMonthly 12
        </Directory>
        """
    )
    gfs = config.sets[0].schedule
    assert (gfs.cycle_type, gfs.keep_daily, gfs.keep_weekly, gfs.keep_monthly, gfs.keep_yearly) == (
        "GFSCycle", 7, 4, 12, 0,
    )  # fmt: skip
    assert gfs.gfs_points == 23 and gfs.cycle_length == 7
    with raises(r"t.conf:1: Directory /x has CycleType GFSCycle but keeps nothing; add KeepDaily N"):
        parse("<Directory /x>\nCycleType GFSCycle\nFrequency 1\nDiffs 1\n</Directory>\n")
    with raises(r"t.conf:1: KeepWeekly expects a whole number of weeks >= 0"):
        parse("KeepWeekly -1\n")


# -- Config methods ------------------------------------------------------------------------------------


def test_require_for_backup() -> None:
    parse_config(seed_fixed(), "seed.conf").require_for_backup()
    with raises(r"t.conf: Bucket is not set; add 'Bucket NAME' at top level; DiffDir is not set"):
        parse("GpgRecipient k\n").require_for_backup()
    with raises(r"t.conf: DiffDir is not set; add 'DiffDir PATH' at top level"):
        parse("Bucket b\nGpgRecipient k\n").require_for_backup()
    with raises(r"t.conf: Encryption gpg needs a public key; add GpgRecipient or set Encryption none$"):
        parse("Bucket b\nDiffDir /d\n").require_for_backup()
    parse("Bucket b\nDiffDir /d\nEncryption none\n").require_for_backup()


def test_select() -> None:
    config = parse_config(seed_fixed(), "seed.conf")
    chosen = config.select(["mysql/all", "/etc/", "svn/home/svn/repos/"])
    assert [s.name for s in chosen] == ["/etc", "mysql/all", "svn/home/svn/repos"]
    assert config.select([]) == config.sets
    assert [s.name for s in config.select(["/usr", "/usr"])] == ["/usr"]
    with raises(r"seed.conf: no set named '/nope' in this config; known sets: /etc, /home/build, "):
        config.select(["/etc", "/nope"])


# -- loading -------------------------------------------------------------------------------------------


def test_load_config_from_file(tmp_path: Path) -> None:
    path = tmp_path / "s3napback.conf"
    path.write_text(seed_fixed(), encoding="utf-8")
    config = load_config(str(path))
    assert config.source == str(path)
    assert by_name(config)["/home/foobar"].origin == f"{path}:42"
    path.write_text(SEED_EXAMPLE, encoding="utf-8")
    with raises(re.escape(f"{path}:70: </SubversionDir> does not close")):
        load_config(str(path))


def test_load_config_from_stdin(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("Bucket from-stdin\nFrequency x\n"))
    with raises(r"<stdin>:2: Frequency expects a whole number of days >= 1, got 'x'$"):
        load_config(None)
    monkeypatch.setattr(sys, "stdin", io.StringIO("Bucket from-stdin\n"))
    config = load_config("-")
    assert (config.source, config.bucket) == ("<stdin>", "from-stdin")


def test_load_config_unreadable(tmp_path: Path) -> None:
    missing = tmp_path / "missing.conf"
    with raises(re.escape(f"cannot read config {missing}: No such file or directory")):
        load_config(str(missing))
    binary = tmp_path / "binary.conf"
    binary.write_bytes(b"Bucket \xff\n")
    with raises(re.escape(f"cannot read config {binary}: not UTF-8 text")):
        load_config(str(binary))


def test_credentials_that_are_not_text_are_named_without_their_bytes(tmp_path: Path) -> None:
    path = tmp_path / "key.txt"
    path.write_bytes(b"key=AKIA\nsecret=s3cr\xffet\n")
    with raises(rf"^{path}: S3KeyFile is not UTF-8 text; write it as name=value lines$"):
        read_credentials(str(path), ["key", "secret"], "S3KeyFile")


def test_a_credentials_file_others_can_read_is_named_with_the_fix(tmp_path: Path, caplog: t.Any) -> None:
    path = tmp_path / "key.txt"
    path.write_text("key=AKIAEXAMPLE\nsecret=TOPSECRET\n")
    path.chmod(0o600)
    with caplog.at_level(logging.WARNING):
        assert read_credentials(str(path), ["key", "secret"], "S3KeyFile")["secret"] == "TOPSECRET"
    assert caplog.records == []
    path.chmod(0o644)
    with caplog.at_level(logging.WARNING):
        assert read_credentials(str(path), ["key", "secret"], "S3KeyFile")["secret"] == "TOPSECRET"
    assert [r.getMessage() for r in caplog.records] == [
        f"S3KeyFile {path} is mode 0644, open to other users; keep the secret in it private: chmod 600 {path}"
    ]
    assert "TOPSECRET" not in caplog.text

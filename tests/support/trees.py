# Copyright: Contributors to s3napback.s3napback
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Describe a directory tree completely (contents, modes, owners, mtimes, links, xattrs, ACLs) to compare trees."""

from __future__ import annotations

import hashlib
import os
import random
import shutil
import stat
import subprocess
from typing import Any


def _xattrs(path: str) -> dict[str, bytes]:
    try:
        names = os.listxattr(path, follow_symlinks=False)
    except OSError:
        return {}
    found = {}
    for name in sorted(names):
        try:
            found[name] = os.getxattr(path, name, follow_symlinks=False)
        except OSError:
            pass
    return found


def describe_tree(root: str, *, mtimes: bool = True) -> dict[str, tuple[Any, ...]]:
    """Relative path -> everything a restore promises to keep. Hard links are named by their first path."""
    entries: dict[str, tuple[Any, ...]] = {}
    first_path_of_inode: dict[tuple[int, int], str] = {}
    for directory, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in [""] + sorted(dirnames) + sorted(filenames):
            if name == "" and directory != root:
                continue
            path = os.path.join(directory, name) if name else directory
            rel = os.path.relpath(path, root)
            st = os.lstat(path)
            common = (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, st.st_mtime_ns if mtimes else 0, _xattrs(path))
            if stat.S_ISLNK(st.st_mode):
                entries[rel] = ("link", os.readlink(path), *common[1:3])
            elif stat.S_ISDIR(st.st_mode):
                if rel != ".":
                    entries[rel] = ("dir", *common)
            elif stat.S_ISREG(st.st_mode):
                inode = (st.st_dev, st.st_ino)
                if st.st_nlink > 1 and inode in first_path_of_inode:
                    entries[rel] = ("hardlink", first_path_of_inode[inode])
                    continue
                first_path_of_inode[inode] = rel
                digest = hashlib.sha256()
                with open(path, "rb") as handle:
                    for block in iter(lambda: handle.read(1 << 20), b""):
                        digest.update(block)
                entries[rel] = ("file", st.st_size, digest.hexdigest(), *common)
            else:
                entries[rel] = ("special", stat.S_IFMT(st.st_mode), *common)
    return entries


def assert_same_tree(
    expected_root: str, actual_root: str, *, mtimes: bool = True, only: list[str] | None = None
) -> None:
    """Every entry alike (or, with ``only``, those relative paths, which must exist on both sides)."""
    expected = describe_tree(expected_root, mtimes=mtimes)
    actual = describe_tree(actual_root, mtimes=mtimes)
    if only is not None:
        assert all(path in expected for path in only), f"{only} not all in {expected_root}"
        expected = {path: expected[path] for path in only}
        actual = {path: actual[path] for path in only if path in actual}
    missing = sorted(set(expected) - set(actual))
    extra = sorted(set(actual) - set(expected))
    differing = sorted(p for p in set(expected) & set(actual) if expected[p] != actual[p])
    assert not (missing or extra or differing), (
        f"trees differ: missing {missing[:10]}, unexpected {extra[:10]}, "
        f"differing {[(p, expected[p], actual[p]) for p in differing[:5]]}"
    )


def copy_tree(source: str, destination: str) -> None:
    """A faithful copy (cp -a keeps hard links, xattrs, ACLs, times) for remembering a moment."""
    subprocess.run(["cp", "-a", source, destination], check=True)  # noqa: S603,S607


def make_tree(root: str, *, files: int, total_bytes: int, seed: int = 1) -> None:
    """A deterministic tree: many small text files, some larger compressible ones, some random data."""
    rng = random.Random(seed)
    os.makedirs(root, exist_ok=True)
    words = [f"word{i}" for i in range(500)]
    big_files = max(1, files // 500)
    small_budget = total_bytes // 10
    per_small = max(64, small_budget // max(1, files - big_files))
    for index in range(files - big_files):
        folder = os.path.join(root, f"d{index % 50:02d}", f"e{index % 7}")
        os.makedirs(folder, exist_ok=True)
        text = " ".join(rng.choice(words) for _word in range(per_small // 6)) + "\n"
        with open(os.path.join(folder, f"f{index:05d}.txt"), "w") as handle:
            handle.write(text)
    per_big = (total_bytes - small_budget) // big_files
    os.makedirs(os.path.join(root, "big"), exist_ok=True)
    for index in range(big_files):
        with open(os.path.join(root, "big", f"blob{index:03d}.bin"), "wb") as handle:
            if index % 3 == 0:  # incompressible
                handle.write(rng.randbytes(per_big))
            else:  # compressible: repeated random blocks
                block = rng.randbytes(64 * 1024)
                written = 0
                while written < per_big:
                    piece = block[: min(rng.randrange(1024, len(block)), per_big - written)]
                    handle.write(piece)
                    written += len(piece)


def add_special_entries(root: str) -> None:
    """Symlinks, hard links, a sparse file, empty folders, odd modes, user xattrs and an ACL."""
    os.makedirs(os.path.join(root, "special", "empty", "deeper"), exist_ok=True)
    os.symlink("../d00/e0/f00000.txt", os.path.join(root, "special", "relative-link"))
    os.symlink("/nonexistent/target", os.path.join(root, "special", "dangling-link"))
    with open(os.path.join(root, "special", "original"), "w") as handle:
        handle.write("linked twice\n")
    os.link(os.path.join(root, "special", "original"), os.path.join(root, "special", "hardlink"))
    sparse = os.path.join(root, "special", "sparse")
    with open(sparse, "wb") as handle:
        handle.seek(50 * 1024 * 1024)
        handle.write(b"end of a sparse file\n")
    secret = os.path.join(root, "special", "private")
    with open(secret, "w") as handle:
        handle.write("mode 0600, owned by nobody\n")
    os.chmod(secret, 0o600)
    os.chown(secret, 65534, 65534)
    os.chmod(os.path.join(root, "special", "empty"), 0o2750)
    script = os.path.join(root, "special", "script.sh")
    with open(script, "w") as handle:
        handle.write("#!/bin/sh\necho hi\n")
    os.chmod(script, 0o755)
    os.setxattr(os.path.join(root, "special", "original"), "user.s3napback", b"kept")
    if shutil.which("setfacl"):
        subprocess.run(["setfacl", "-m", "u:nobody:r", os.path.join(root, "special", "script.sh")], check=True)  # noqa: S603,S607
    # a known mtime in the past, with nanoseconds, on a file and a folder
    os.utime(os.path.join(root, "special", "original"), ns=(1_500_000_000_123_456_789, 1_500_000_000_123_456_789))

# Copyright: Contributors to s3napback.s3napback
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A manifest is read back exactly, and one that is damaged or edited into the wrong shape is refused in one
line (a set that fails), never an internal error that stops the whole run."""

from __future__ import annotations

import json

import pytest

from _s3napback.catalog import Chunk, Manifest
from _s3napback.errors import StorageError
from _s3napback.simulate import fake_manifest

GOOD = fake_manifest(
    "20260302-040000-full",
    seq=3,
    chunks=(Chunk(0, "chunk-000000.tar.zst.gpg", 0, 100, 60, "ab" * 32),),
    retain_until="2026-04-01T00:00:00+00:00",
)


def test_a_manifest_reads_back_as_written():
    assert Manifest.from_json(GOOD.to_json(), "m") == GOOD


@pytest.mark.parametrize(
    ("change", "cause"),
    [
        (lambda d: [], "not a JSON object"),
        (lambda d: {**d, "seq": "x"}, "seq is 'x'"),
        (lambda d: {**d, "slot": None}, "slot is None"),
        (lambda d: {**d, "period": True}, "period is True"),
        (lambda d: {**d, "parent": 7}, "parent is 7"),
        (lambda d: {**d, "retain_until": "soon"}, "Invalid isoformat string: 'soon'"),
        (lambda d: {**d, "day": "2026-13-01"}, "expected YYYY-MM-DD, got '2026-13-01'"),
        (lambda d: {**d, "chunks": [{**d["chunks"][0], "size": "60"}]}, "size is '60'"),
    ],
)
def test_a_manifest_of_the_wrong_shape_is_refused_in_one_line(change, cause):
    raw = json.dumps(change(json.loads(GOOD.to_json()))).encode()
    with pytest.raises(StorageError) as refused:
        Manifest.from_json(raw, "host/set/20260302-040000-full/manifest.json")
    assert str(refused.value) == (
        f"host/set/20260302-040000-full/manifest.json: unreadable manifest ({cause}); the backup cannot be trusted"
    )

"""Publishing: retired versions leave the published folder at once and are deleted by the next mosaic."""

from __future__ import annotations

from pathlib import Path

from cviz.publish import KEEP_VERSIONS, empty_trash, switch_pointer
from cviz.storage import Storage


def test_stale_versions_are_set_aside_then_deleted(tmp_path: Path) -> None:
    storage = Storage(str(tmp_path))
    versions = [f"2026010{i}T000000-abc" for i in range(1, 6)]
    for v in versions:
        storage.write_bytes(f"published/c1/{v}/map_files/0/0_0.jpg", b"x")
    live = versions[-1]
    switch_pointer(storage, "c1", dzi=f"{live}/map.dzi", items=f"{live}/items.json")
    remaining = [v for v in storage.list("published/c1") if v[0].isdigit()]
    assert remaining == versions[-KEEP_VERSIONS:]
    trash = [v for v in storage.list("published/c1") if v.startswith(".trash-")]
    assert sorted(trash) == [f".trash-{v}" for v in versions[:-KEEP_VERSIONS]]
    assert empty_trash(storage, "c1") == len(trash)
    assert not [v for v in storage.list("published/c1") if v.startswith(".trash-")]
    assert (tmp_path / "published" / "c1" / live / "map_files" / "0" / "0_0.jpg").exists()

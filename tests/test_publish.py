"""Publishing: retired versions leave the published folder at once and are deleted by the next mosaic."""

from __future__ import annotations

from pathlib import Path

from cviz.publish.versions import KEEP_VERSIONS, empty_trash, switch_pointer
from cviz.storage import Storage, open_storage


def test_stale_versions_are_set_aside_then_deleted(tmp_path: Path) -> None:
    storage = open_storage(str(tmp_path))
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


# -- a published version owns its files; publish behind blocking checks -------
import hashlib
import json
import multiprocessing
import time

import dagster as dg
import pytest

from cviz.errors import CollectionBusy, CollectionError
from cviz.publish.versions import Version, read_pointer, update_index
from cviz.stages import registry
from tests.bad_input import images as corpus
from tests.bad_input.stages import STAGES, register, run_all

NAME = "owned"


def write_images(folder: Path, start: int, count: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(start, start + count):
        (folder / f"img-{i:03d}.jpg").write_bytes(corpus._jpeg(corpus.noise((64, 48), 700 + i)))


def tree_bytes(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture()
def built(tmp_path: Path) -> tuple[Path, Path, Storage]:
    folder = tmp_path / "images"
    write_images(folder, 0, 6)
    root = tmp_path / "root"
    store = open_storage(str(root))
    register(store, {"name": NAME, "images": str(folder)})
    run_all(store, NAME)
    return root, folder, store


def live_version(store: Storage) -> Version:
    return Version(NAME, read_pointer(store, NAME)["items"].split("/")[0])


def test_version_names_its_files_and_knows_it_is_live(built) -> None:
    root, _, store = built
    live = live_version(store)
    assert live.is_live(store) and live.missing(store) == []
    assert (root / live.dzi).is_file() and (root / live.items).is_file() and (root / live.preview).is_file()
    assert (root / live.tiles).is_dir()
    assert not Version(NAME, "20000101T000000-00000000").is_live(store)


def test_metadata_json_alone_leaves_every_byte_of_the_live_version_unchanged(built) -> None:
    root, _, store = built
    live = live_version(store)
    before = tree_bytes(root / live.folder)
    for stage in ("metadata_json", "dzi"):
        with pytest.raises(CollectionError, match=f"version {live.id} is the live map, and `{stage}` never writes"):
            getattr(registry, f"stage_{stage}")(store, NAME)
    assert tree_bytes(root / live.folder) == before


def test_metadata_json_alone_through_dagster_fails_and_keeps_the_live_version(built) -> None:
    from cviz_assets import assets
    from tests.conftest import resources

    root, _, store = built
    live = live_version(store)
    before = tree_bytes(root / live.folder)
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions("collections", [NAME])
    result = dg.materialize([assets.metadata_json], partition_key=NAME, instance=instance, resources=resources(root),
                            raise_on_error=False)
    assert not result.success
    [failure] = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    assert "is the live map" in failure.step_failure_data.user_failure_data.description
    assert tree_bytes(root / live.folder) == before


def test_a_mosaic_drawn_from_another_grid_is_refused(built) -> None:
    root, folder, store = built
    registry.stage_mosaic(store, NAME)  # a new, unpublished version for the current grid
    registry.stage_grid(store, NAME, method="sorted")  # the grid changes; the mosaic is not re-rendered
    with pytest.raises(CollectionError, match="drawn from another grid"):
        registry.stage_metadata_json(store, NAME)
    with pytest.raises(CollectionError, match="drawn from another grid"):
        registry.stage_publish(store, NAME)


def test_publish_refuses_an_incomplete_version(built) -> None:
    _, _, store = built
    before = read_pointer(store, NAME)
    registry.stage_mosaic(store, NAME)
    registry.stage_dzi(store, NAME)  # no items.json yet
    with pytest.raises(CollectionError, match="incomplete .*items.json"):
        registry.stage_publish(store, NAME)
    assert read_pointer(store, NAME) == before


def _forced_failure(storage, name):
    from cviz.publish import verify
    return verify._verdict([{"problem": "forced by the test", "id": "img-000.jpg"}], {"items": 0}, "")


@pytest.mark.parametrize("check", ["items_resolved", "pyramid_complete"])
def test_failed_blocking_check_skips_publish_and_keeps_the_previous_map(built, monkeypatch, check: str) -> None:
    """The checks verify the version this run built (not the pointer), and a failure leaves the pointer alone."""
    from cviz.publish import verify
    from cviz_assets import assets
    from cviz_assets.checks import collection_checks
    from tests.conftest import resources

    root, folder, store = built
    before = read_pointer(store, NAME)
    write_images(folder, 6, 3)
    run_all(store, NAME, stages=STAGES[:5])
    seen: list[str] = []
    real = {"items_resolved": verify.verify_items, "pyramid_complete": verify.verify_pyramid}[check]

    def spy(storage, name):
        seen.append(verify.built_version(storage, name).id)
        return _forced_failure(storage, name)

    monkeypatch.setattr(verify, {"items_resolved": "verify_items", "pyramid_complete": "verify_pyramid"}[check], spy)
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions("collections", [NAME])
    selected = [assets.mosaic, assets.dzi, assets.metadata_json, assets.publish]
    result = dg.materialize([*selected, *collection_checks], partition_key=NAME, instance=instance,
                            resources=resources(root), raise_on_error=False,
                            selection=dg.AssetSelection.assets(*selected))
    assert not result.success
    built_id = json.loads((root / "collections" / NAME / "mosaic.json").read_text())["version"]
    assert seen == [built_id] and built_id != before["items"].split("/")[0]
    evaluations = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    assert evaluations[check] is False
    assert "publish" not in {m.asset_key.to_user_string() for m in result.get_asset_materialization_events() and
                             [e.step_materialization_data.materialization for e in result.get_asset_materialization_events()]}
    assert read_pointer(store, NAME) == before  # the previous map stays live
    from cviz.stages import run_lock
    assert run_lock.CollectionLock(store, NAME, "-").read() is None  # the failed run freed the collection
    monkeypatch.setattr(verify, real.__name__, real)
    again = dg.materialize([*selected, *collection_checks], partition_key=NAME, instance=instance,
                           resources=resources(root), selection=dg.AssetSelection.assets(*selected))
    assert again.success and read_pointer(store, NAME)["items"].split("/")[0] != before["items"].split("/")[0]


# -- index updates safe under concurrency ----------------------------------
def _publish_many(root: str, prefix: str, count: int) -> None:
    store = open_storage(root)
    for i in range(count):
        update_index(store, f"{prefix}-{i:03d}", i)


def test_two_processes_publishing_150_collections_each_lose_no_entry(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_publish_many, args=(str(tmp_path), p, 150)) for p in ("a", "b")]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=300)
        assert p.exitcode == 0
    index = json.loads((tmp_path / "published" / "index.json").read_text())
    names = [c["name"] for c in index["collections"]]
    assert len(names) == 300 and names == sorted(names)


def test_an_index_written_before_entry_files_keeps_its_collections(tmp_path: Path) -> None:
    from cviz.publish import retire
    store = open_storage(str(tmp_path))
    store.write_json("published/index.json", {"format": "cviz-index/1", "collections": [
        {"name": "old", "items": 3, "preview": None, "current": "old/current.json", "updated": None}]})
    update_index(store, "new", 5)
    index = store.read_json("published/index.json")
    assert [c["name"] for c in index["collections"]] == ["new", "old"]
    assert retire.unlist(store, "old") and not retire.unlist(store, "old")
    assert [c["name"] for c in store.read_json("published/index.json")["collections"]] == ["new"]


# -- one config snapshot per run --------------------------------------------
def test_each_run_builds_from_the_config_its_images_step_read(built) -> None:
    root, folder, store = built
    spec = {"name": NAME, "images": str(folder)}
    registry.stage_images(store, NAME)
    register(store, {**spec, "cell": "32x32", "title": "changed {title}"})  # another run's registration
    for stage in STAGES[1:]:
        run_all(store, NAME, stages=[stage])
    grid = store.read_json(f"collections/{NAME}/grid.json")
    assert (grid["cell_width"], grid["cell_height"]) == (128, 128)  # the snapshot's tile size
    items = store.read_json(f"published/{NAME}/{read_pointer(store, NAME)['items']}")
    assert not any(t.startswith("changed") for t in items["fields"]["title"])


def test_registering_a_changed_config_while_a_run_holds_the_lock_fails_clearly(built) -> None:
    from cviz.ingest.collection import CollectionConfig
    from cviz.stages import run_lock

    _, folder, store = built
    lock = run_lock.CollectionLock(store, NAME, "run-a")
    lock.acquire(0)
    try:
        registry.register(store, CollectionConfig(name=NAME, images=str(folder)))  # unchanged: no wait
        with pytest.raises(CollectionBusy, match="run-a"):
            registry.register(store, CollectionConfig(name=NAME, images=str(folder), cell="64x64"), wait_s=0)
    finally:
        lock.release()
    assert store.read_json(f"collections/{NAME}/collection.json")["cell"] == "128x128"


# -- the checks verify the version their run built, under the multiprocess executor ----------
def multiprocess_build_collection() -> dg.JobDefinition:
    """``build_collection`` with the code location's executor (multiprocess by default): module-level
    so each step process can reconstruct it; resources from the environment the test sets."""
    from cviz_assets.definitions import build_collection_job

    return build_collection_job()


@pytest.mark.slow
def test_checks_under_the_multiprocess_executor_verify_the_version_their_run_built(built, tmp_path: Path,
                                                                                  monkeypatch) -> None:
    import importlib

    import cviz_assets.definitions as definitions
    from tests.conftest import MODEL, WEIGHTS

    root, folder, store = built
    old = live_version(store)
    write_images(folder, 6, 2)
    for var, value in (("CVIZ_STORAGE_ROOT", str(root)), ("CVIZ_MODEL", MODEL), ("CVIZ_WEIGHTS", WEIGHTS),
                       ("CVIZ_EXECUTOR", "multiprocess")):
        monkeypatch.setenv(var, value)
    (tmp_path / "home").mkdir()
    importlib.reload(definitions)  # the code location as the daemon would load it, with this environment
    try:
        with dg.DagsterInstance.local_temp(str(tmp_path / "home")) as instance:
            instance.add_dynamic_partitions("collections", [NAME])
            result = dg.execute_job(dg.reconstructable(multiprocess_build_collection), instance=instance,
                                    tags={"dagster/partition": NAME}, raise_on_error=False)
            assert result.success
            pids = {e.pid for e in result.all_events if e.event_type_value == "STEP_START"}
            assert len(pids) > 1  # really one process per step
            steps = {e.step_key for e in result.all_events if e.event_type_value == "STEP_START"}
            assert {"dzi_pyramid_complete", "metadata_json_items_resolved", "publish"} <= steps
            descriptions = {e.event_specific_data.check_name: e.event_specific_data.description
                            for e in result.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"}
    finally:
        monkeypatch.undo()
        importlib.reload(definitions)
    new = live_version(store)
    assert new.id != old.id
    for check in ("pyramid_complete", "items_resolved"):
        assert descriptions[check].endswith(f"version {new.id}"), descriptions[check]
    assert store.read_json(new.items)["count"] == 8


# -- item images of deleted images are not kept forever ---------------------
def test_item_images_no_kept_version_names_are_removed(built) -> None:
    root, folder, store = built
    images = root / "published" / NAME / "images"
    assert len(list(images.iterdir())) == 6
    (folder / "img-000.jpg").unlink()
    for _ in range(KEEP_VERSIONS + 1):  # until no kept version names the deleted image
        run_all(store, NAME)
    live = store.read_json(live_version(store).items)
    names = sorted(p.name for p in images.iterdir())
    assert names == sorted(p.rsplit("/", 1)[-1] for p in live["fields"]["image"]) and len(names) == 5


def test_removing_the_last_collection_empties_the_index(tmp_path) -> None:
    """With no entry file left, the index built from entries is not mistaken for a legacy one."""
    from cviz.publish.versions import INDEX_FORMAT, remove_from_index

    store = open_storage(str(tmp_path))
    store.write_json("published/index.json", {"collections": [{"name": "only", "items": 3}]})  # legacy index
    assert remove_from_index(store, "only")
    index = store.read_json("published/index.json")
    assert index["format"] == INDEX_FORMAT and index["collections"] == []
    assert not remove_from_index(store, "only")
    assert store.read_json("published/index.json")["collections"] == []


def test_versions_started_within_one_second_sort_in_creation_order(tmp_path: Path) -> None:
    """Versions retire oldest first by name, so ids made in the same second must still sort by time."""
    store = open_storage(str(tmp_path))
    made = []
    for _ in range(50):
        made.append(store.new_version())
        time.sleep(0.0005)
    assert sorted(made) == made and len(set(made)) == 50


# -- what reaches the viewer is bounded -------------------------------------------------------------------
def test_one_oversized_field_cannot_blow_up_items_json() -> None:
    from cviz.ingest.collection import CollectionConfig
    from cviz.publish import items as items_mod

    config = CollectionConfig(name="big", images="/x", title="{title}", url="https://example.org/{link}")
    huge = "x" * (100 << 20)  # a 100 MB CSV field
    rows = [{"filename": "a.jpg", "title": huge, "link": huge, "description": huge, "note": "short"},
            {"filename": "b.jpg", "title": "B", "link": "b", "description": "fine", "note": "n"}]
    entries = [{"file": r["filename"], "row": r} for r in rows]
    grid = {"cols": 2, "rows": 1, "cell_width": 8, "cell_height": 8, "width": 16, "height": 8}
    doc, info = items_mod.build_items(config, entries, ["filename", "title", "link", "description", "note"], [0, 1],
                                      grid, ["../i/a", "../i/b"])
    size = len(json.dumps(doc))
    assert size < 3 * items_mod.MAX_ITEM_CHARS
    title, description = doc["fields"]["title"][0], doc["values"]["description"][0]
    assert title.startswith("x" * 2000) and title.endswith(f"[cut at 2,000 of {len(huge):,} characters; "
                                                           "the full text is in the catalogue]")
    assert description.endswith("the full text is in the catalogue]") and doc["values"]["note"] == ["short", "n"]
    assert doc["fields"]["url"] == ["", "https://example.org/b"]  # a cut link would lead nowhere: left out
    assert doc["values_truncated"] == len(info["values_truncated"]) >= 2
    assert {"id": "a.jpg", "column": "description", "chars": len(huge)} in info["values_truncated"]


def test_the_total_is_bounded_too(monkeypatch: pytest.MonkeyPatch) -> None:
    from cviz.ingest.collection import CollectionConfig
    from cviz.publish import items as items_mod

    monkeypatch.setattr(items_mod, "MAX_TOTAL_CHARS", 100_000)  # as if the collection had millions of items
    config = CollectionConfig(name="many", images="/x")
    rows = [{"filename": f"{i}.jpg", "a": "a" * 1500, "b": "b" * 1500} for i in range(100)]
    grid = {"cols": 10, "rows": 10, "cell_width": 8, "cell_height": 8, "width": 80, "height": 80}
    doc, _ = items_mod.build_items(config, [{"file": r["filename"], "row": r} for r in rows], ["filename", "a", "b"],
                                   list(range(100)), grid, [f"../i/{i}" for i in range(100)])
    carried = sum(len(v.split("…")[0]) for col in doc["values"].values() for v in col)
    assert carried <= 100_000 and doc["values_truncated"] == 200  # a share of 1,000 characters: both values cut


def test_e2e_an_oversized_field_through_cviz_run(tmp_path: Path) -> None:
    """A 5 MB description (a 100 MB one behaves the same, slower): cviz run publishes a small items.json,
    says so in the metadata_json metadata, and the WARN check names the value."""
    from tests.test_interruptions import write_images
    from tests.test_run_ends import cli_child

    folder = tmp_path / "images"
    write_images(folder, 0, 4)
    big = "word " * (1 << 20)
    csv_text = "filename,title,description\n" + "".join(f"img-{i:03d}.jpg,Item {i},{big if i == 1 else 'short'}\n"
                                                     for i in range(4))
    (tmp_path / "metadata.csv").write_text(csv_text, encoding="utf-8")
    root = tmp_path / "root"
    proc = cli_child(root, folder, extra=["-metadata", str(tmp_path / "metadata.csv")], name="wordy")
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err[-3000:]
    pub = root / "published" / "wordy"
    items_path = pub / json.loads((pub / "current.json").read_text())["items"]
    assert items_path.stat().st_size < 50_000
    doc = json.loads(items_path.read_text())
    assert doc["values_truncated"] == 1 and "the full text is in the catalogue" in doc["values"]["description"][
        doc["fields"]["id"].index("img-001.jpg")]
    catalogue = json.loads((root / "collections" / "wordy" / "images.json").read_text())
    assert any(e.get("row") and e["row"]["description"] == big.strip() for e in catalogue["files"])
    assert "cviz: warning: check catalogue_complete on images failed: 1 value cut in the viewer (img-001.jpg: " \
           "description has" in err


# -- published files are readable by the web server ------------------------------------------------------
def test_published_files_are_world_readable_and_private_state_is_not(tmp_path: Path) -> None:
    """Under umask 077, as a locked-down service account would run: published files 0644, folders
    0755; the collection's config (its paths), the feature cache and the lock's mutex 0600."""
    import os
    import stat

    store = open_storage(str(tmp_path / "root"))
    old = os.umask(0o077)
    try:
        store.write_bytes("published/c1/v1/map_files/0/0_0.jpg", b"tile")
        store.write_json("collections/c1/collection.json", {"images": "/private/path"})
        store.write_bytes("cache/features/x.npy", b"features")
        store.write_bytes("cache/items/ab/x.jpg", b"image")
        store.copy_file("cache/items/ab/x.jpg", "published/c1/images/x.jpg")
        with store.mutex("published/index.d/.mutex"):
            pass
    finally:
        os.umask(old)

    def mode(rel: str) -> int:
        return stat.S_IMODE(os.stat(tmp_path / "root" / rel).st_mode)

    for rel in ("published", "published/c1", "published/c1/v1", "published/c1/v1/map_files/0", "published/index.d"):
        assert mode(rel) == 0o755, rel
    assert mode("published/c1/v1/map_files/0/0_0.jpg") == mode("published/c1/images/x.jpg") == 0o644
    assert mode("collections/c1/collection.json") == mode("cache/features/x.npy") == 0o600
    assert mode("published/index.d/.mutex") == 0o600


def test_e2e_the_published_tree_is_served_to_another_user(tmp_path: Path) -> None:
    """`cviz run` under umask 077, then every file under published/ read as `nobody` (as a web server
    running as another user would), and the private state refused to it."""
    import os
    import shutil
    import subprocess
    import tempfile

    from tests.test_interruptions import write_images
    from tests.test_run_ends import cli_child

    if os.geteuid() != 0 or shutil.which("runuser") is None:  # a developer's unprivileged shell; CI runs as root
        from tests.conftest import missing_prerequisite

        missing_prerequisite("reading as another user needs root and runuser")
    top = Path(tempfile.mkdtemp(prefix="cviz-served-", dir="/tmp"))  # pytest's tmp folders are 0700
    try:
        os.chmod(top, 0o755)  # the operator's storage root, open to the web server
        write_images(top / "images", 0, 5)
        (top / "root").mkdir(mode=0o755)
        proc = cli_child(top / "root", top / "images", name="served", umask=0o077)
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err[-3000:]
        pub = top / "root" / "published"
        files = [p for p in pub.rglob("*") if p.is_file() and not p.name.startswith(".")]
        assert any(p.name == "items.json" for p in files) and any(p.suffix == ".jpg" for p in files)
        read = subprocess.run(["runuser", "-u", "nobody", "--", "find", str(pub), "-type", "f", "!", "-name", ".*",
                               "-exec", "cat", "{}", "+"], capture_output=True, timeout=120)
        assert read.returncode == 0, read.stderr.decode()[-2000:]
        assert len(read.stdout) == sum(p.stat().st_size for p in files)
        private = top / "root" / "collections" / "served" / "collection.json"
        refused = subprocess.run(["runuser", "-u", "nobody", "--", "cat", str(private)], capture_output=True, timeout=60)
        assert refused.returncode != 0 and b"Permission denied" in refused.stderr
    finally:
        shutil.rmtree(top, ignore_errors=True)

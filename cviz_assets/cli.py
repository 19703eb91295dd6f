"""``cviz``: the command line, mirroring the original tool's flags.

``cviz run`` registers a collection and materializes the whole graph in-process through the same
Dagster job the UI runs (``build_collection``), recording the run in the Dagster instance at
``DAGSTER_HOME`` when set, so it shows in the UI like any other run.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import signal
import sys
import threading
import time
import uuid
from typing import Sequence

from cviz.embed.models.calibration import PRECISIONS
from cviz.errors import CvizError
from cviz.ingest.collection import LAYOUTS, CollectionConfig, config_fields, field_default
from cviz.paths import CollectionPaths
from cviz.settings import Settings, settings
from cviz_assets import run_output
from cviz_assets.choices import CHOICES, describe

EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report a Ctrl-C'd command (SIGTERM too: Dagster maps it to SIGINT)
CLI_RUN_TAGS = {"cviz/source": "cli"}  # as drop runs carry cviz/source=drop: filter runs by origin in the UI


# The original tool's flags for each collection field (cviz.ingest.collection declares the fields, their
# defaults and help): a field without flags here fails the parser's construction, so a new field
# cannot be forgotten on the command line.
CLI_FLAGS = {
    "name": ("-id", "--id"),
    "images": ("-imagedir", "--images"),
    "metadata": ("-metadata", "--metadata", "-metdata"),
    "filename_column": ("-fn", "--filename-column"),
    "title": ("-title", "--title"),
    "url": ("-url", "--url"),
    "cell": ("-tile", "--tile", "--cell"),  # -tile: the original scripts' flag
    "label_columns": ("--labels",),
    "layouts": ("--layouts",),
    "image_url_column": ("--image-url-column",),
    "iiif_manifest": ("--iiif-manifest",),
}


def _collection_args(p: argparse.ArgumentParser, config_cls: type = CollectionConfig) -> None:
    for f in config_fields(config_cls):
        default = field_default(f)
        required = default is dataclasses.MISSING
        if isinstance(default, list):  # lists are given comma-separated
            default = ",".join(default)
        if f.name in CLI_PARSERS:  # a structured field: its own flag syntax, unset keeps the config's default
            p.add_argument(*CLI_FLAGS[f.name], dest=f.name, default=None,
                           help=f"{f.metadata['help']}: {CLI_PARSERS[f.name].__doc__}")
            continue
        help = f.metadata["help"] + (" (comma-separated)" if isinstance(field_default(f), list) else "")
        p.add_argument(*CLI_FLAGS[f.name], dest=f.name, required=required, default=None if required else default,
                       help=help)


def _env_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--storage", help="storage root (default $CVIZ_STORAGE_ROOT or ./cviz_data)")
    p.add_argument("--model", help="feature model (default efficientnet_lite0)")
    p.add_argument("--weights", help="imagenet (default), a local weights file, or random")
    p.add_argument("--precision", choices=list(PRECISIONS),
                   help="feature precision (default int8 for Lite0 with ImageNet weights on LiteRT, else float32): "
                        + "; ".join(f"{k}: {v}" for k, v in PRECISIONS.items()))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cviz", description=__doc__.splitlines()[0], allow_abbrev=False)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="register a collection and build its map", allow_abbrev=False)
    _collection_args(run)
    _env_args(run)
    for dest, choice in (("grid_method", CHOICES["grid method"]), ("tsne_backend", CHOICES["t-SNE implementation"]),
                         ("update", CHOICES["update mode"])):
        run.add_argument(choice.flag, dest=dest, default=choice.default, choices=list(choice.options),
                         help=f"{describe(choice.options)} (default {choice.default})")
    run.add_argument("--force", action="store_true",
                     help="run every stage, even those whose inputs and code are unchanged since they last ran")
    add = sub.add_parser("add", help="register a collection (adds its partition) without building it", allow_abbrev=False)
    _collection_args(add)
    _env_args(add)
    sample = sub.add_parser("sample", help="write the built-in met-sample collection (images + metadata.csv)")
    sample.add_argument("--out", default=None, help="folder to write it to (default <storage>/samples/met-sample)")
    sample.add_argument("--storage", help="storage root")
    health = sub.add_parser("health", help="write published/health.html and health.json (every collection's live "
                                            "version, last run, checks, skipped files) and print one line each")
    health.add_argument("--storage", help="storage root")
    watchdog = sub.add_parser("watchdog", help="alert when the daemon is silent, the instance database unreachable "
                                               "or the webserver down (exit 1 on a problem)")
    watchdog.add_argument("--every", type=float, default=None, help="check every this many seconds, for ever")
    watchdog.add_argument("--webserver", default=None, help="the webserver's URL (e.g. http://127.0.0.1:3000)")
    watchdog.add_argument("--check-only", action="store_true",
                          help="check and set the exit status only: no alert, no state (a container health check)")
    watchdog.add_argument("--daemon-tolerance", type=float, default=90.0,
                          help="seconds without a daemon heartbeat that count as silent (default 90)")
    return parser


def _check_storage(root: str | None) -> None:
    """A local ``--storage`` that is a file (or under one) is refused in words, not a traceback."""
    if not root or "://" in root:
        return
    path = os.path.abspath(os.path.expanduser(root))
    while path and not os.path.exists(path):
        parent = os.path.dirname(path)
        if parent == path:
            return
        path = parent
    if os.path.exists(path) and not os.path.isdir(path):
        raise CvizError(f"storage root {root}: {path} is a file, not a folder (give --storage a folder or s3:// URL)")


def cli_settings(args: argparse.Namespace) -> Settings:
    """The environment's settings with this command's ``--storage``, ``--model``, ``--weights`` and
    ``--precision`` applied: the CLI builds its definitions from them (``build_defs``), as ``dg dev`` builds its own
    from the environment alone, so the same graph runs either way and nothing is written to os.environ."""
    flags = {field_name: getattr(args, attr, None)
             for attr, field_name in (("storage", "storage_root"), ("model", "model"), ("weights", "weights"),
                                      ("precision", "precision"))}
    return dataclasses.replace(settings(), **{k: v for k, v in flags.items() if v})


def _spec(args: argparse.Namespace, config_cls: type = CollectionConfig) -> dict:
    spec = {}
    for f in config_fields(config_cls):
        value = getattr(args, f.name)
        if f.name in CLI_PARSERS:
            if value is not None:
                spec[f.name] = CLI_PARSERS[f.name](value)
            continue
        if isinstance(field_default(f), list):
            value = [c.strip() for c in (value or "").split(",") if c.strip()]
        spec[f.name] = value
    return spec


def _layouts_arg(text: str) -> dict:
    """here given as timeline,category (the default: both) or none"""
    chosen = {t.strip() for t in text.split(",") if t.strip()} - {"none"}
    unknown = sorted(chosen - set(LAYOUTS))
    if unknown:
        raise CvizError(f"--layouts: unknown layout(s) {unknown}; choose from {', '.join(LAYOUTS)} or none")
    return {layout: ({"column": None} if layout in chosen else False) for layout in LAYOUTS}


CLI_PARSERS = {"layouts": _layouts_arg}  # config fields given in a syntax of their own


def _instance():
    import dagster as dg

    if os.environ.get("DAGSTER_HOME"):
        return dg.DagsterInstance.get()
    print("cviz: DAGSTER_HOME is not set: this run is recorded in a temporary instance only", file=sys.stderr)
    return dg.DagsterInstance.ephemeral()


def _source(config: CollectionConfig) -> str:
    """Where the collection's images come from, in words."""
    return config.images or config.iiif_manifest or f"URLs in column {config.image_url_column} of {config.metadata}"


def cmd_run(args: argparse.Namespace, build: bool = True) -> int:
    run_settings = cli_settings(args)
    _check_storage(run_settings.storage_root)
    requested = CollectionConfig.from_dict(_spec(args))  # fail fast on name/cell size/template syntax, before any import cost
    from cviz_assets.definitions import build_defs
    from cviz_assets.register import register_config, register_spec, validated_spec

    defs = build_defs(run_settings)

    instance = _instance()
    storage = defs.resources["storage"]
    if not build:
        config = register_spec(instance, storage, _spec(args))
        print(f"cviz: registered {config.name} (images {_source(config)}) under {storage.root}")
        return 0
    from cviz.stages import run_lock
    from cviz_assets.collection_lock import run_ended

    run_id = str(uuid.uuid4())  # chosen here so run_output.RunProgress can follow the run's event log (public API only)
    config = validated_spec(storage, _spec(args))  # a bad CSV or template: refused before anything is written
    # The run's lock, taken once before the collection is registered and released however the run ends:
    # another run can neither re-register the collection under this one nor find a lock it left.
    lock = run_lock.CollectionLock(storage.get(), requested.name, run_id, owner_done=run_ended(instance))
    lock.acquire()
    try:
        with lock.heartbeat():
            config = register_config(instance, storage, config, owner=run_id)
            print(f"cviz: registered {config.name} (images {_source(config)}) under {storage.root}")
            return _build(args, defs, instance, storage, config, run_id)
    finally:
        try:
            lock.release()
        except Exception as exc:  # storage gone: the next run breaks the lock of this ended process
            print(f"cviz: could not release the lock of {requested.name}: {exc}", file=sys.stderr)


def _build(args: argparse.Namespace, defs, instance, storage, config: CollectionConfig, run_id: str) -> int:  # noqa: ANN001
    """Execute ``build_collection`` for ``config`` in this process; the exit status and the last line."""
    from cviz_assets.assets import FORCE_TAG

    started = time.perf_counter()
    job = defs.resolve_job_def("build_collection")
    keep = args.update == "place_new"
    run_config = {
        "loggers": {"console": {"config": {"log_level": "CRITICAL"}}},  # progress comes from run_output.RunProgress
        "ops": {"pca": {"config": {"update": args.update}},
                "tsne": {"config": {"update": args.update, "backend": args.tsne_backend}},
                "grid": {"config": {"method": args.grid_method, "keep_previous": keep}},
                **{f"{layout}_layout": {"config": {"keep_previous": keep}} for layout in LAYOUTS}},
    }
    from cviz.stages import progress
    bars = run_output.StageBars()
    progress.add_listener(bars)
    try:
        with run_output.RunProgress(instance, run_id):
            result = job.execute_in_process(partition_key=config.name, instance=instance, raise_on_error=False,
                                            run_id=run_id, run_config=run_config,
                                            tags={**CLI_RUN_TAGS, **({FORCE_TAG: "true"} if args.force else {})})
    finally:
        progress.remove_listener(bars)
        bars.close()
    for line in run_output.warnings(result):
        print(line, file=sys.stderr)
    if run_output.interrupted(result):
        print(f"cviz: run {result.run_id} interrupted: stopped, nothing published (the previous map, if any, "
              "stays live)", file=sys.stderr)
        return EXIT_INTERRUPTED
    if not result.success:
        print(f"cviz: run {result.run_id} failed: {run_output.first_error(result)}", file=sys.stderr)
        return 1
    from cviz.stages.common import config_hash
    from cviz_assets.step_times import from_records

    print(f"cviz: {from_records(instance.all_logs(result.run_id)).line()}")
    store = storage.get()
    built = _built_configuration(result, store, config)
    if built is not None:
        print(f"cviz: run {result.run_id} built {built}, not the configuration this command registered",
              file=sys.stderr)
        return 1
    print(f"cviz: {config.name} built in {time.perf_counter() - started:.1f} s (run {result.run_id}, "
          f"configuration {config_hash(config)})")
    paths = CollectionPaths(config.name)
    print(f"cviz: outputs: {store.url(paths.base)} and {store.url(paths.published)}")
    print(f"cviz: viewer: {storage.viewer_link(config.name)}")
    return 0


def _built_configuration(result, store, config: CollectionConfig) -> str | None:  # noqa: ANN001
    """None when the run built ``config``; else which configuration it built (the ``config_sha256`` its
    `images` step reported: the snapshot the whole run built from, cviz.stages.common.run_config) and,
    when the catalogue still holds that snapshot, the fields that differ."""
    from cviz.stages.common import config_hash, run_config

    built_hash = ""
    for mat in result.asset_materializations_for_node("images"):
        if "config_sha256" in mat.metadata:
            built_hash = str(mat.metadata["config_sha256"].value)
    if not built_hash or built_hash == config_hash(config):
        return None
    text = f"configuration {built_hash}"
    built = run_config(store, config.name)
    if config_hash(built) == built_hash:
        mine, theirs = config.to_dict(), built.to_dict()
        differ = sorted(k for k in set(mine) | set(theirs) if mine.get(k) != theirs.get(k))
        text += " (" + ", ".join(f"{k}={theirs.get(k)!r}" for k in differ) + ")"
    return text


def cmd_sample(args: argparse.Namespace) -> int:
    from cviz.ingest.sample import write_met_sample

    out = args.out or os.path.join(cli_settings(args).storage_root, "samples", "met-sample")
    count = write_met_sample(out)
    print(f"cviz: wrote {count} images and metadata.csv to {out}")
    return 0


def _terminate(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def cmd_health(args: argparse.Namespace) -> int:
    """``cviz health``: the collection health page now (the ``collection_health`` sensor keeps it current)."""
    from cviz.publish.health import HEALTH_HTML, STATES
    from cviz_assets.definitions import build_defs
    from cviz_assets.health import write_page

    store = build_defs(cli_settings(args)).resources["storage"].get()
    with _instance() as instance:
        doc = write_page(instance, store, time.time())
    for c in doc["collections"]:
        run = c["last_run"] or {}
        print(f"{c['name']}: {STATES[c['state']][0]}; live {c['live_version'] or 'none'}; last run "
              f"{run.get('status', 'none').lower()}; failing checks {len(c['failing_checks'])}, warning checks "
              f"{len(c['warning_checks'])}, skipped files {c['skipped']}")
    print(f"cviz: wrote {store.url(HEALTH_HTML)}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's start-up chatter hides the progress lines
    args = build_parser().parse_args(argv)
    # SIGTERM as Ctrl-C (Dagster does the same while it executes): the run stops and its `finally`
    # blocks run (the lock released), where the default action would end the process on the spot.
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _terminate)
    try:
        if args.command == "run":
            return cmd_run(args)
        if args.command == "add":
            return cmd_run(args, build=False)
        if args.command == "sample":
            return cmd_sample(args)
        if args.command == "health":
            return cmd_health(args)
        if args.command == "watchdog":
            from cviz_assets import watchdog

            return watchdog.main(args.every, args.webserver, args.daemon_tolerance, alert=not args.check_only)
    except CvizError as exc:
        print(f"cviz: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("cviz: interrupted: stopped, nothing published (the previous map, if any, stays live)", file=sys.stderr)
        return EXIT_INTERRUPTED
    return 2


if __name__ == "__main__":
    sys.exit(main())

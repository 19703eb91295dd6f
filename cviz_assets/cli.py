"""``cviz``: the command line, mirroring the original tool's flags.

``cviz run`` registers a collection and materializes the whole graph in-process through the same
Dagster job the UI runs (``build_collection``), recording the run in the Dagster instance at
``DAGSTER_HOME`` when set, so it shows in the UI like any other run.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time
import uuid
from typing import Sequence

from cviz.errors import CvizError
from cviz.ingest.collection import LAYOUTS, CollectionConfig, config_fields, field_default
from cviz.paths import CollectionPaths
from cviz.settings import env_name, settings

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
    "tile": ("-tile", "--tile"),
    "label_columns": ("--labels",),
    "layouts": ("--layouts",),
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cviz", description=__doc__.splitlines()[0], allow_abbrev=False)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="register a collection and build its map", allow_abbrev=False)
    _collection_args(run)
    _env_args(run)
    run.add_argument("--grid-method", default="auto", choices=["auto", "flas_tsne", "flas", "lap", "rasterfairy", "sorted"],
                     help="grid assignment (default auto: lap up to 2,000 items, flas_tsne (FLAS on the t-SNE points) above; then refined)")
    run.add_argument("--tsne", dest="tsne_backend", default="opentsne", choices=["opentsne", "multicore"],
                     help="t-SNE implementation (multicore: MulticoreTSNE, built by `make multicore-tsne`)")
    run.add_argument("--update", default="recompute", choices=["recompute", "place_new"],
                     help="place_new: items already on the map keep their place; only new images are placed")
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


def _apply_env(args: argparse.Namespace) -> None:
    # The Dagster definitions read their resource settings from the environment, so the CLI and
    # `dagster dev` build the very same definitions.
    for attr, field_name in (("storage", "storage_root"), ("model", "model"), ("weights", "weights")):
        value = getattr(args, attr, None)
        if value:
            os.environ[env_name(field_name)] = value  # cviz.settings.settings() sees it at its next call


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


def _failed_checks(result) -> list[str]:
    """'check <name> on <asset> failed: <summary>' for each failed check of the run (blocking: nothing published)."""
    out = []
    for event in result.all_events:
        if event.event_type_value == "ASSET_CHECK_EVALUATION":
            ev = event.event_specific_data
            if not ev.passed:
                summary = ev.description or (ev.metadata.get("summary").value if ev.metadata.get("summary") else "")
                out.append(f"check {ev.check_name} on {ev.asset_key.to_user_string()} failed: {summary}")
    return out


def _first_error(result) -> str:
    checks = _failed_checks(result)
    if checks:
        return "; ".join(checks) + "; nothing was published (the previous map, if any, stays live)"
    for event in result.all_events:
        if event.is_step_failure and event.step_failure_data:
            user = event.step_failure_data.user_failure_data
            if user is not None and user.description:  # a user error (bad CSV, no usable image): its own words
                return f"{event.step_key}: {user.description.strip()}"
            err = event.step_failure_data.error
            if err is None:
                continue
            while err.cause is not None and err.cls_name in ("DagsterExecutionStepExecutionError", "RetryRequestedFromPolicy"):
                err = err.cause
            if err.cls_name == "RetryRequestedFromPolicy" and err.context is not None:
                err = err.context
            return f"{event.step_key}: {err.message.strip().splitlines()[-1] if err.message.strip() else err.cls_name}"
    return "the run failed (see the Dagster UI for details)"


class _Progress:
    """Prints each stage as it is materialized, read from the instance's event log (real time)."""

    def __init__(self, instance, run_id: str) -> None:
        import threading

        self.instance, self.run_id, self.seen = instance, run_id, 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> "_Progress":
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join()
        self._print_new()

    def _loop(self) -> None:
        while not self.stop.wait(0.5):
            try:
                self._print_new()
            except Exception:  # progress is best effort; the run's result is what counts
                pass

    def _print_new(self) -> None:
        records = self.instance.all_logs(self.run_id)
        for record in records[self.seen:]:
            event = record.dagster_event
            if event is None:
                continue
            if event.event_type_value == "ASSET_MATERIALIZATION":
                mat = event.step_materialization_data.materialization
                meta = mat.metadata
                if isinstance(getattr(meta.get("skipped"), "value", None), str):  # cviz.stages.stamps: unchanged
                    print(f"cviz:   {mat.asset_key.to_user_string():<14} skipped ({meta['skipped'].value})", flush=True)
                    continue
                bits = [f"{k}={meta[k].value}" for k in ("items", "usable", "skipped", "cache_hits", "images_per_s", "seconds") if k in meta]
                print(f"cviz:   {mat.asset_key.to_user_string():<14} done  " + " ".join(bits), flush=True)
            elif event.event_type_value == "STEP_START":
                print(f"cviz:   {event.step_key:<14} ...", flush=True)
        self.seen = len(records)


class _Bars:
    """Live progress of the long stages (cviz.stages.progress): a tqdm bar per stage on a terminal, one
    line per ~10% otherwise (logs, CI), so a 2-minute features step is never silent."""

    def __init__(self, stream=None) -> None:  # noqa: ANN001
        self.stream = stream or sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.bars: dict[str, object] = {}
        self.steps: dict[str, int] = {}

    def __call__(self, u) -> None:  # noqa: ANN001 - a cviz.stages.progress.Update
        if self.tty:
            from tqdm import tqdm

            bar = self.bars.get(u.stage)
            if bar is None:
                bar = self.bars[u.stage] = tqdm(total=u.total, desc=f"cviz:   {u.stage:<14}", unit=f" {u.unit}",
                                                file=self.stream, leave=True, dynamic_ncols=True)
            bar.update(u.done - bar.n)
            if u.done >= u.total:
                bar.close()
            return
        step = int(10 * u.done / u.total) if u.total else 10
        if step > self.steps.get(u.stage, 0):
            self.steps[u.stage] = step
            print(f"cviz:   {u.line()}", file=self.stream, flush=True)

    def close(self) -> None:
        for bar in self.bars.values():
            bar.close()


def cmd_run(args: argparse.Namespace, build: bool = True) -> int:
    _apply_env(args)
    _check_storage(settings().storage_root)
    CollectionConfig.from_dict(_spec(args))  # fail fast on name/tile/template syntax, before any import cost
    from cviz_assets.definitions import defs
    from cviz_assets.register import register_spec

    instance = _instance()
    storage = defs.resources["storage"]
    config = register_spec(instance, storage, _spec(args))
    print(f"cviz: registered {config.name} (images {config.images}) under {storage.root}")
    if not build:
        return 0
    started = time.perf_counter()
    job = defs.resolve_job_def("build_collection")
    run_id = str(uuid.uuid4())  # chosen here so _Progress can follow the run's event log (public API only)
    keep = args.update == "place_new"
    run_config = {
        "loggers": {"console": {"config": {"log_level": "CRITICAL"}}},  # progress comes from _Progress
        "ops": {"pca": {"config": {"update": args.update}},
                "tsne": {"config": {"update": args.update, "backend": args.tsne_backend}},
                "grid": {"config": {"method": args.grid_method, "keep_previous": keep}}},
    }
    from cviz.stages import progress
    bars = _Bars()
    progress.add_listener(bars)
    try:
        with _Progress(instance, run_id):
            result = job.execute_in_process(partition_key=config.name, instance=instance, raise_on_error=False,
                                            run_id=run_id, run_config=run_config,
                                            tags={**CLI_RUN_TAGS, **({"cviz/force": "true"} if args.force else {})})
    finally:
        progress.remove_listener(bars)
        bars.close()
    if not result.success:
        print(f"cviz: run {result.run_id} failed: {_first_error(result)}", file=sys.stderr)
        return 1
    from cviz_assets.step_times import from_records

    print(f"cviz: {from_records(instance.all_logs(result.run_id)).line()}")
    store = storage.get()
    print(f"cviz: {config.name} built in {time.perf_counter() - started:.1f} s (run {result.run_id})")
    paths = CollectionPaths(config.name)
    print(f"cviz: outputs: {store.url(paths.base)} and {store.url(paths.published)}")
    print(f"cviz: viewer: {storage.viewer_link(config.name)}")
    return 0


def cmd_sample(args: argparse.Namespace) -> int:
    from cviz.ingest.sample import write_met_sample

    _apply_env(args)
    from cviz_resources.storage import default_root

    out = args.out or os.path.join(default_root(), "samples", "met-sample")
    count = write_met_sample(out)
    print(f"cviz: wrote {count} images and metadata.csv to {out}")
    return 0


def cmd_health(args: argparse.Namespace) -> int:
    """``cviz health``: the collection health page now (the ``collection_health`` sensor keeps it current)."""
    _apply_env(args)
    from cviz_assets.definitions import defs
    from cviz_assets.health import write_page
    from cviz.publish.health import HEALTH_HTML, STATES

    store = defs.resources["storage"].get()
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
    return 2


if __name__ == "__main__":
    sys.exit(main())

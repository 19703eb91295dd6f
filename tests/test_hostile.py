"""Hostile input: templates, names, markup and network exposure give an attacker nothing."""

from __future__ import annotations

import csv
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cviz.errors import CvizError, InvalidName, TemplateError
from cviz.ingest.catalogue import SourceFile, _inspect
from cviz.ingest.collection import CollectionConfig
from cviz.ingest.templates import parse_template
from cviz.measure.plots import data_uri_markdown
from cviz.paths import CollectionPaths, safe_relpath, validate_collection_name
from cviz.storage import open_storage
from tests.bad_input import images as corpus
from tests.conftest import missing_prerequisite

REPO = Path(__file__).resolve().parents[1]


# -- templates: plain {Column} substitution only ------------------------------------------------
ATTACKS = [
    "{0.__class__}",
    "{title.__init__.__globals__}",
    "{title.__class__.__mro__[1].__subclasses__()}",
    "{x[0]}",
    "{title[0]}",
    "{title!r}",
    "{title!s}",
    "{title:>{width}}",
    "{title:%Y}",
    "{0}",
    "{}",
    "{ title}",
    "{title",
    "title}",
    "{a{b}}",
]


@pytest.mark.parametrize("source", ATTACKS)
def test_format_string_attacks_are_refused(source: str) -> None:
    with pytest.raises(TemplateError) as err:
        parse_template(source, "title template")
    assert "title template" in str(err.value) and repr(source) in str(err.value)


@pytest.mark.parametrize("source", ATTACKS[:6])
def test_format_string_attacks_are_refused_when_registering(source: str) -> None:
    with pytest.raises(CvizError):
        CollectionConfig(name="attack", images="/nowhere", title=source)
    with pytest.raises(CvizError):
        CollectionConfig(name="attack", images="/nowhere", url="https://x.org/" + source)


def test_format_string_attack_refused_by_the_command_line(tmp_path: Path) -> None:
    proc = subprocess.run(
        [str(REPO / ".venv/bin/python"), "-m", "cviz_assets.cli", "add", "-id", "attack", "-imagedir", str(tmp_path),
         "-title", "{title.__init__.__globals__}"],
        capture_output=True, text=True, timeout=120, env={**os.environ, "CVIZ_STORAGE_ROOT": str(tmp_path / "root")},
    )
    assert proc.returncode == 2, proc.stderr
    assert "placeholder {title.__init__.__globals__} is not allowed" in proc.stderr
    assert not (tmp_path / "root" / "collections" / "attack").exists()


def test_values_are_never_formatted_again() -> None:
    t = parse_template("{title} / {url}")
    row = {"title": "{url.__class__}", "url": "%s %(x)s {0}"}
    assert t.render(row) == "{url.__class__} / %s %(x)s {0}"


def test_doubled_braces_are_literal() -> None:
    assert parse_template("{{title}} {title}").render({"title": "T"}) == "{title} T"


column_name = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="{}[].!:"), min_size=1,
                      max_size=12).filter(lambda s: s.strip() == s and not s.isdigit() and not s.startswith('"'))
quoted_name = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters='"'), min_size=1, max_size=12)
literal = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)


@settings(max_examples=300, deadline=None)
@given(parts=st.lists(st.one_of(st.tuples(st.just(False), literal), st.tuples(st.just(True), column_name),
                                st.tuples(st.just("quoted"), quoted_name)), max_size=8),
       values=st.dictionaries(st.one_of(column_name, quoted_name), st.text(max_size=20), max_size=6))
def test_template_renders_exactly_plain_substitution(parts, values) -> None:
    """A plain ``{name}`` or a quoted ``{"any name"}`` (cviz.ingest.templates) is the column's value, nothing more."""
    source = "".join('{"' + text + '"}' if is_field == "quoted" else "{" + text + "}" if is_field
                     else text.replace("{", "{{").replace("}", "}}") for is_field, text in parts)
    expected = "".join((values.get(text) or "") if is_field else text for is_field, text in parts)
    template = parse_template(source)
    assert template.render(values) == expected
    assert template.columns == [text for is_field, text in parts if is_field]


@settings(max_examples=500, deadline=None)
@given(source=st.text(max_size=40), values=st.dictionaries(st.text(max_size=8), st.text(max_size=8), max_size=4))
def test_arbitrary_template_text_parses_or_is_refused_clearly(source: str, values: dict) -> None:
    try:
        template = parse_template(source)
    except TemplateError as exc:
        assert str(exc)
        return
    rendered = template.render(values)
    # Nothing but literal text and whole values: with no values, only the literal text remains.
    literal_only = template.render({})
    assert len(rendered) >= len(literal_only)
    assert literal_only == "".join(text for is_field, text in template.parts if not is_field)
    for column in template.columns:
        assert not set(column) & set("[].!:{}")


# -- names never escape the storage root ----------------------------------------------------------
@pytest.mark.parametrize("name", ["../x", "..", "/etc", "a/b", "a\x00b", "A", "", " x", "x" * 65, "é", "c:", "-x"])
def test_bad_collection_names_are_refused(name: str) -> None:
    with pytest.raises(InvalidName):
        validate_collection_name(name)
    with pytest.raises(InvalidName):
        CollectionPaths(name)


@pytest.mark.parametrize("rel", ["../x", "a/../../x", "a/..", "/etc/passwd", "\\\\server\\share", "C:/x", "a\x00.jpg",
                                 "", ".", "s3://other-bucket/key", "a\\..\\..\\x"])
def test_unsafe_relative_paths_are_refused(rel: str) -> None:
    with pytest.raises(InvalidName):
        safe_relpath(rel)


@pytest.mark.parametrize("root", ["local", "memory://cviz-hostile-test/root"])
def test_storage_refuses_paths_that_leave_the_root(tmp_path: Path, root: str) -> None:
    """Local and object-store (memory:// stands in for s3://: the same non-local code path)."""
    storage = open_storage(str(tmp_path / "root") if root == "local" else root)
    for rel in ["../escape.txt", "published/../../escape.txt", "/tmp/escape.txt", "x\x00.txt", "a/../../b"]:
        with pytest.raises(InvalidName):
            storage.write_bytes(rel, b"x")
        with pytest.raises(InvalidName):
            storage.read_bytes(rel)
    storage.write_bytes("published/ok.txt", b"fine")
    assert storage.read_bytes("published/ok.txt") == b"fine"
    assert not (tmp_path / "escape.txt").exists()


class RecordingFs:
    """A stand-in object store that records every read (protocol s3, as s3fs reports it)."""

    protocol = ("s3", "s3a")

    def __init__(self) -> None:
        self.read: list[str] = []

    def cat_file(self, path: str) -> bytes:
        self.read.append(path)
        return corpus._jpeg(corpus.noise((40, 40), 1))


@pytest.mark.parametrize("key", ["imgs/../../secret.jpg", "imgs/../other-prefix/x.jpg", "a\x00b.jpg", "a//b.jpg",
                                 "./a.jpg"])
def test_s3_keys_with_dots_or_nul_are_skipped_unread(key: str) -> None:
    fs = RecordingFs()
    entry = _inspect(fs, SourceFile(rel=key, path=f"bucket/collection/{key}"))
    assert entry["status"] == "skipped" and entry["reason"].startswith("unsafe file name")
    assert fs.read == []
    assert _inspect(fs, SourceFile(rel="imgs/ok.jpg", path="bucket/collection/imgs/ok.jpg"))["status"] == "usable"


# -- metadata text is data, never markup ----------------------------------------------------------
HOSTILE = ["<script>alert(1)</script>", "<img src=x onerror=alert(1)>", "[click](javascript:alert(1))",
           "![x](http://evil.example/p.png)", "javascript:alert(1)"]


def test_markdown_alt_text_is_stripped_of_markup() -> None:
    md = data_uri_markdown(b"\x89PNG", "x](javascript:alert(1)) <script>", "image/png")
    alt = md[2:md.index("](data:")]
    assert md.startswith("![") and md.count("](") == 1 and not set(alt) & set("[]()<>!:")


@pytest.fixture(scope="module")
def hostile_run(tmp_path_factory: pytest.TempPathFactory):
    """Three images with hostile names, titles, urls and column names, through the real Dagster assets."""
    from tests.conftest import materialize_collection

    src = tmp_path_factory.mktemp("hostile-src")
    folder = src / "images"
    folder.mkdir()
    names = ["<img src=x onerror=alert(1)>.jpg", "[click](javascript:alert(1)).jpg", "plain.jpg"]
    for i, n in enumerate(names):
        (folder / n).write_bytes(corpus._jpeg(corpus.noise((48, 48), 200 + i)))
    (folder / "<svg onload=alert(1)>.jpg").write_bytes(b"")  # skipped: its name lands in the skip table
    with open(src / "metadata.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["filename", "title", "url", "<b>**col**</b>", "date"])
        for n, t, u in zip(names, HOSTILE, ["javascript:alert(1)", "https://ok.example/1", "data:text/html,<b>x"]):
            w.writerow([n, t, u, HOSTILE[3], "1880"])
        w.writerow(["../../<script>alert(1)</script>.jpg", HOSTILE[0], "", "", ""])
    root = tmp_path_factory.mktemp("hostile-root")
    spec = {"name": "hostile", "images": str(folder), "metadata": str(src / "metadata.csv")}
    result = materialize_collection(root, spec)
    assert result.success
    return result, root


def test_metadata_text_is_never_markdown_in_dagster(hostile_run) -> None:
    import dagster as dg

    result, _ = hostile_run
    mats = [e.event_specific_data.materialization for e in result.all_events if e.event_type_value == "ASSET_MATERIALIZATION"]
    assert len(mats) == 9  # eight stages and publish
    markdown = 0
    for mat in mats:
        for key, value in mat.metadata.items():
            if isinstance(value, dg.MarkdownMetadataValue):
                markdown += 1
                text = value.value or ""
                for bad in ("<script", "<img", "<svg", "javascript:", "](javascript", "evil.example", "**col**", "<b>"):
                    assert bad not in text, (key, text[:200])
            if isinstance(value, (dg.TextMetadataValue, dg.JsonMetadataValue)):
                continue  # shown as plain text / JSON by the UI, never rendered as markdown
    assert markdown >= 3  # the pictures: explained variance, t-SNE, mosaic preview
    images_meta = result.asset_materializations_for_node("images")[0].metadata
    assert {r["file"] for r in images_meta["skipped_files"].value} == {"<svg onload=alert(1)>.jpg"}


def test_no_html_written_with_metadata_text(hostile_run) -> None:
    _, root = hostile_run
    written = [p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in (".html", ".htm", ".svg", ".xhtml")]
    for p in written:  # none today; any future HTML output must escape what it shows
        text = p.read_text(errors="replace")
        assert "<script>alert(1)" not in text and "onerror=alert" not in text, p
    # items.json keeps the text verbatim, as data (the viewer renders it as text: viewer tests).
    import json

    pointer = json.loads((root / "published/hostile/current.json").read_text())
    items = json.loads((root / "published/hostile" / pointer["items"]).read_text())
    assert set(HOSTILE[:3]) <= set(items["fields"]["title"])


def test_viewer_links_only_http_and_https() -> None:
    """The viewer's own tests cover rendering; this checks the one rule it must keep."""
    panel = (REPO / "viewer/public/src/panel.js").read_text()
    assert re.search(r"protocol === 'http:' \|\| \w+\.protocol === 'https:'", panel)
    for src in (REPO / "viewer/public/src").rglob("*.js"):
        assert "innerHTML" not in src.read_text().replace("// no innerHTML", ""), src


# -- the webservers bind 127.0.0.1 only ------------------------------------------------------------
def test_run_script_binds_loopback_only() -> None:
    script = (REPO / "scripts/run.sh").read_text()
    lines = [line for line in script.splitlines() if not line.lstrip().startswith("#")]
    assert not [line for line in lines if re.search(r"\bdagster\s+dev\b", line)], "dagster dev is superseded by dg dev"
    dagster = [line for line in lines if re.search(r"\bdg\s+dev\b", line)]
    assert dagster and all(re.search(r"(-h|--host)[ =]127\.0\.0\.1\b", line) for line in dagster), dagster
    node = [m for line in lines for m in re.findall(r"\bnode\s+(\S+\.m?js)\b", line)]
    assert node, "run.sh starts no node server?"
    for server in node:
        assert (REPO / "viewer" / server).is_file(), f"run.sh starts viewer/{server}, which does not exist"
        assert "const HOST = '127.0.0.1'" in (REPO / "viewer" / server).read_text()


def _listening(port: int) -> list[str]:
    out = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        if os.path.exists(table):
            for line in Path(table).read_text().splitlines()[1:]:
                local, state = line.split()[1], line.split()[3]
                if state == "0A" and int(local.split(":")[1], 16) == port:
                    out.append(local.split(":")[0])
    return out


@pytest.mark.skipif(not os.path.exists("/proc/net/tcp"), reason="needs Linux /proc/net/tcp to read socket addresses")
def test_viewer_server_listens_on_loopback_only(tmp_path: Path) -> None:
    import shutil

    node = shutil.which("node")
    if node is None:
        missing_prerequisite("node is not installed")
    proc = subprocess.Popen([node, "server.js"], cwd=REPO / "viewer", stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, env={**os.environ, "CVIZ_VIEWER_PORT": "0", "CVIZ_STORAGE_ROOT": str(tmp_path)})
    try:
        line = proc.stdout.readline()
        port = int(re.search(r"http://127\.0\.0\.1:(\d+)/", line).group(1))
        deadline = time.time() + 5
        while not _listening(port) and time.time() < deadline:
            time.sleep(0.05)
        assert _listening(port) == ["0100007F"]  # 127.0.0.1, and nothing else
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)

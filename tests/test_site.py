"""`one site` without a browser: files written, data shapes, escaping of data and pages, shards,
refusals, http repositories, --plots, and that neither Jinja2 nor matplotlib load for `one --help`."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("jinja2", reason="the site needs jinja2 (pip install -e '.[test]')")

from onecore.site import data as site_data  # noqa: E402

from .conftest import run_cli  # noqa: E402


def _index(site: Path) -> dict[str, Any]:
    text = (site / "data" / "index.js").read_text()
    assert text.startswith("window.ONE_SITE_INDEX=") and text.endswith(";\n")
    return json.loads(text[len("window.ONE_SITE_INDEX=") : -2])


def _shards(site: Path) -> dict[int, dict[str, Any]]:
    out = {}
    for f in (site / "data" / "sessions").glob("*.js"):
        m = re.fullmatch(r"ONE_SITE_SHARD\((\d+),(.*)\);\n", f.read_text(), re.S)
        assert m, f
        out[int(m.group(1))] = json.loads(m.group(2))
    return out


@pytest.fixture
def local_repo(tmp_path: Path, runner: Any) -> Path:
    from onecore.testing import make_data_root

    root = tmp_path / "root"
    make_data_root(root, n=100)
    run_cli(runner, "add-repo", "lab", "--type", "local", "--set", f"root_dir={root}")
    return root


def test_site_files_and_index_data(runner: Any, local_repo: Path, tmp_path: Path) -> None:
    res = run_cli(runner, "site", tmp_path / "site")
    assert "8 sessions, 85 datasets" in res.output
    site = tmp_path / "site"
    for name in ("index.html", "session.html", "static/site.css", "static/site.js", "data/index.js", ".onecore-site"):
        assert (site / name).is_file(), name
    html = (site / "index.html").read_text()
    assert "https://" not in html.replace("https://www", "")  # nothing from a CDN
    assert '<script src="data/index.js"></script>' in html and '<script src="static/site.js"></script>' in html
    idx = _index(site)
    assert idx["sessions"] == 8 and idx["datasets"] == 85 and idx["eid"] is None  # eids are the paths
    assert sorted(idx["labs"]) == ["haisslab", "nicklab"]
    assert {"spikes.times", "session.meta", "_ibl_wheel.position"} <= set(idx["types"])
    assert len(idx["lab"]) == len(idx["day"]) == len(idx["sig"]) == 8
    assert idx["day"] == sorted(idx["day"], reverse=True)
    sizes = {p.stat().st_size for p in local_repo.rglob("*.npy")}
    assert all(s > 0 for s in idx["size"]) and sizes
    shards = _shards(site)
    assert len(shards) == idx["shards"] == 1
    sessions = shards[0]["s"]
    first = next(s for s in sessions if s["eid"] == "nicklab/Subjects/NICK_001/2021-01-04/001")
    names = {(shards[0]["colls"][d[0]], d[1], d[2]) for d in first["d"]}
    assert ("alf", "2021-06-01", "spikes.times.npy") in names and ("alf", "", "spikes.times.npy") in names
    defaults = {(shards[0]["colls"][d[0]], d[1], d[2]) for d in first["d"] if d[4]}
    assert ("alf", "2021-06-01", "spikes.times.npy") in defaults  # the latest revision is the default
    assert ("alf", "", "spikes.times.npy") not in defaults
    url = next(shards[0]["dirs"][d[5]] + "/" + d[6] for d in first["d"] if d[2] == "session.meta.json")
    assert url == (local_repo / first["eid"] / "alf" / "session.meta.json").as_uri()


def test_rebuild_overwrites_a_site_but_not_other_folders(runner: Any, local_repo: Path, tmp_path: Path) -> None:
    run_cli(runner, "site", tmp_path / "site")
    run_cli(runner, "site", tmp_path / "site", "--title", "Again")
    assert "Again" in (tmp_path / "site" / "index.html").read_text()
    other = tmp_path / "other"
    other.mkdir()
    (other / "keep.txt").write_text("mine")
    res = run_cli(runner, "site", other, code=1)
    assert "not empty" in res.output and "Traceback" not in res.output
    assert sorted(p.name for p in other.iterdir()) == ["keep.txt"]
    (tmp_path / "file").write_text("x")
    assert "is a file" in run_cli(runner, "site", tmp_path / "file", code=2).output


def test_js_json_cannot_close_a_script() -> None:
    text = site_data.js_json({"a": "</script><!-- & \u2028"})
    assert "<" not in text and ">" not in text and "&" not in text and "\u2028" not in text
    assert json.loads(text) == {"a": "</script><!-- & \u2028"}


def test_shards_split_big_catalogs_and_match_the_hash(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(site_data, "SHARD_SIZE", 3)
    sessions = [
        {"eid": f"e{i}", "lab": "L", "subject": f"S{i % 4}", "date": "2020-01-0" + str(1 + i % 9), "number": 1}
        for i in range(20)
    ]
    writer = site_data.DataWriter(tmp_path, "r", lambda eid: [])
    stats = writer.write(sessions)
    assert stats.shards == 7
    shards = _shards(tmp_path)
    assert sorted(shards) == list(range(7))
    where = {s["eid"]: k for k, sh in shards.items() for s in sh["s"]}
    assert where == {s["eid"]: site_data.shard_of(s["eid"], 7) for s in sessions}
    assert _index(tmp_path)["eid"] == [s["eid"] for s in sessions]  # not paths: listed
    assert site_data.shard_of("nicklab/Subjects/é/2021-01-01/001", 1000) == site_data.shard_of(
        "nicklab/Subjects/é/2021-01-01/001", 1000
    )
    stats = site_data.DataWriter(tmp_path, "r", lambda eid: []).write(sessions[:2])  # a smaller rebuild
    assert sorted(_shards(tmp_path)) == [0]


def test_urls_that_are_not_links_are_dropped() -> None:
    assert site_data.safe_url("javascript:alert(1)") is None
    assert site_data.safe_url("data:text/html,x") is None
    assert site_data.safe_url("HTTPS://x.org/a") == "HTTPS://x.org/a"
    assert site_data.safe_url("ftp://me:secret@ftp.x.org:21/d/a.npy") == "ftp://ftp.x.org:21/d/a.npy"
    assert site_data.safe_url("https://u@x.org") == "https://x.org"


def test_site_of_an_http_repository(runner: Any, tmp_path: Path) -> None:
    from onecore.testing import make_data_root
    from onecore.testing.servers import FileServer

    root = tmp_path / "root"
    make_data_root(root, n=50)
    with FileServer(root) as server:
        base = server.url
        run_cli(runner, "index", root, "--base-url", server.url)
        run_cli(runner, "add-repo", "web", "--type", "http", "--set", f"base_url={server.url}")
        run_cli(runner, "site", tmp_path / "site")
    shards = _shards(tmp_path / "site")
    urls = [sh["dirs"][d[5]] + "/" + d[6] for sh in shards.values() for s in sh["s"] for d in s["d"]]
    assert len(urls) == 85 and all(u.startswith(base) for u in urls)
    assert all(d[3] for sh in shards.values() for s in sh["s"] for d in s["d"])  # sizes from the index


def test_site_with_plots(runner: Any, tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    from onecore.testing import make_data_root

    root = tmp_path / "root"
    make_data_root(root, labs=("lab",), subjects=1, sessions=1, n=500, extras=False)
    run_cli(runner, "add-repo", "p", "--type", "local", "--set", f"root_dir={root}")
    run_cli(runner, "site", tmp_path / "site", "--plots")
    (session,) = _shards(tmp_path / "site")[0]["s"]
    kinds = [label for label, _ in session["plots"]]
    assert kinds == ["raster", "wheel"]  # the generated trials have no choice/feedback: no trials plot
    for _, rel in session["plots"]:
        assert (tmp_path / "site" / rel).read_bytes()[:4] == b"\x89PNG"


def test_help_loads_neither_jinja_nor_matplotlib() -> None:
    code = (
        "import sys; from click.testing import CliRunner; from onecore.cli import cli; "
        "r = [CliRunner().invoke(cli, a) for a in (['--help'], ['site', '--help'], ['plot', '--help'])]; "
        "assert all(x.exit_code == 0 for x in r), [x.output for x in r]; "
        "print(sorted(m for m in ('jinja2', 'matplotlib', 'onecore.site', 'onecore.plot') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "[]", out.stderr


def test_describe_html_escapes_and_stays_short() -> None:
    from onecore.site import describe_html

    paths = [f"lab/Subjects/S{i}/2021-01-01/001/alf/spikes.times.npy" for i in range(80)]
    paths.append("lab/Subjects/<b>x</b>/2021-01-01/001/alf/spikes.times.npy")
    text = describe_html(paths, {p: 1000 for p in paths}, title="A <title>")
    assert "<b>x</b>" not in text and "&lt;b&gt;x&lt;/b&gt;" in text and "A &lt;title&gt;" in text
    assert "81 sessions, 81 datasets" in text and "and 31 more sessions" in text
    assert text.count("<li>") == 51


@pytest.mark.parametrize(
    "blocked, args, hint",
    [
        ("jinja2", ["site", "OUT"], "pip install 'onecore[site]'"),
        ("matplotlib", ["plot", "lab/Subjects/x/2020-01-01/001", "raster"], "pip install 'onecore[plot]'"),
    ],
)
def test_missing_extra_is_one_clear_error(tmp_path: Path, blocked: str, args: list[str], hint: str) -> None:
    args = [str(tmp_path / "site") if a == "OUT" else a for a in args]
    code = (
        f"import sys; sys.modules[{blocked!r}] = None; from click.testing import CliRunner; "
        "from onecore.cli import cli; "
        f"r = CliRunner().invoke(cli, {args!r}); print(r.exit_code); print(r.output)"
    )
    env = {**__import__("os").environ, "ONE_HOME": str(tmp_path / "home")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)
    assert out.stdout.splitlines()[0] == "1", out.stdout + out.stderr
    assert hint in out.stdout and "Traceback" not in out.stdout

"""The static site in a real headless Chromium (selenium): loads clean, filters, session pages, escaping.

Opened from disk (file://) and from a loopback web server. Screenshots are kept in the test's tmp
folder and copied to ``test-artifacts/`` (ignored by git). Skipped, with the reason, only when the
browser cannot be installed (see .ci/system-deps).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from onecore import hookimpl
from onecore.repository import Dataset, IndexUpdate, Repository, SessionRecord

pytest.importorskip("jinja2", reason="the site needs jinja2 (pip install -e '.[test]')")

REPO = Path(__file__).resolve().parents[1]
ARTIFACTS = REPO / "test-artifacts"
XSS = '<script>window.__xss = 1</script><img src=x onerror="window.__xss = 2">'


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from onecore.site.browser import Browser, unavailable_reason

    reason = unavailable_reason(install=True)
    if reason:
        print(f"SKIPPED browser tests: {reason}")
        pytest.skip(reason)
    b = Browser()
    try:
        yield b
    finally:
        b.close()


def _shot(browser: Any, tmp_path: Path, name: str) -> Path:
    path = tmp_path / name
    browser.driver.save_screenshot(str(path))
    assert path.stat().st_size > 5000
    ARTIFACTS.mkdir(exist_ok=True)
    shutil.copyfile(path, ARTIFACTS / name)
    return path


@pytest.fixture
def local_site(tmp_path: Path, runner: Any) -> tuple[Path, Path]:
    """A site of a local repository of the generated data root: (site folder, data root)."""
    from onecore.testing import make_data_root

    from .conftest import run_cli

    root = tmp_path / "root"
    make_data_root(root, n=100)
    run_cli(runner, "add-repo", "lab", "--type", "local", "--set", f"root_dir={root}")
    run_cli(runner, "site", tmp_path / "site")
    return tmp_path / "site", root


def _rows(browser: Any) -> list[list[str]]:
    rows = browser.driver.find_elements("css selector", "#sessions tbody tr")
    return [[td.text for td in r.find_elements("tag name", "td")] for r in rows]


def _select(browser: Any, element_id: str, text: str) -> None:
    from selenium.webdriver.support.ui import Select

    Select(browser.driver.find_element("id", element_id)).select_by_visible_text(text)


def _wait_count(browser: Any, expected: str) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(browser.driver, 10).until(lambda d: d.find_element("id", "count").text.startswith(expected))


def test_index_loads_without_console_errors(browser: Any, local_site: tuple[Path, Path], tmp_path: Path) -> None:
    site, _ = local_site
    browser.console_errors()
    browser.open((site / "index.html").as_uri())
    assert browser.console_errors() == []
    assert browser.driver.find_element("id", "count").text == "8 of 8 sessions"
    rows = _rows(browser)
    assert len(rows) == 8
    assert rows[0][2] >= rows[-1][2]  # newest first
    assert {r[0] for r in rows} == {"nicklab", "haisslab"}
    _shot(browser, tmp_path, "site-index.png")


def test_filter_by_subject_and_dataset_type(browser: Any, local_site: tuple[Path, Path]) -> None:
    site, _ = local_site
    browser.open((site / "index.html").as_uri())
    box = browser.driver.find_element("id", "f-subject")
    box.send_keys("NICK_001")
    _wait_count(browser, "2 of 8")
    assert sorted(r[2] for r in _rows(browser)) == ["2021-01-04", "2021-01-11"]
    assert {r[1] for r in _rows(browser)} == {"NICK_001"}
    _select(browser, "f-type", "session.meta")  # only the first session of the data root has it
    _wait_count(browser, "1 of 8")
    assert [r[:4] for r in _rows(browser)] == [["nicklab", "NICK_001", "2021-01-04", "001"]]
    box.clear()
    browser.driver.execute_script("document.getElementById('f-subject').dispatchEvent(new Event('input'))")
    _wait_count(browser, "1 of 8")
    _select(browser, "f-type", "any")
    _select(browser, "f-lab", "haisslab")
    _wait_count(browser, "4 of 8")
    assert {r[0] for r in _rows(browser)} == {"haisslab"}
    browser.driver.execute_script(
        "for (const [id, v] of [['f-from', '2021-01-05'], ['f-to', '2021-01-11']]) {"
        "  const f = document.getElementById(id); f.value = v; f.dispatchEvent(new Event('change')); }"
    )
    _wait_count(browser, "2 of 8")  # haisslab sessions from the 5th to the 11th (inclusive)
    assert sorted(r[2] for r in _rows(browser)) == ["2021-01-05", "2021-01-11"]
    browser.driver.find_element("id", "f-reset").click()
    _wait_count(browser, "8 of 8")
    _select(browser, "f-lab", "haisslab")
    _wait_count(browser, "4 of 8")
    browser.driver.find_element("css selector", "th[data-key=subject]").click()  # sort by subject
    assert [r[1] for r in _rows(browser)] == sorted(r[1] for r in _rows(browser))
    assert browser.console_errors() == []


def test_session_page_lists_datasets_and_links(browser: Any, local_site: tuple[Path, Path], tmp_path: Path) -> None:
    from onecore.api import One

    site, root = local_site
    one = One(repo="lab")
    eid = one.search(subject="NICK_001", date_range="2021-01-04")[0]
    expected = one.list_datasets(eid, revision="9999", details=False)  # all revisions' latest
    every = [r.rel_path for r in one.catalog.datasets(eid)]
    one.close()
    browser.open((site / "index.html").as_uri())
    browser.driver.find_element("id", "f-subject").send_keys("NICK_001")
    _wait_count(browser, "2 of 8")
    link = [a for a in browser.driver.find_elements("css selector", "#sessions tbody a")][-1]
    link.click()
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(browser.driver, 10).until(lambda d: d.execute_script("return document.body.dataset.ready === '1'"))
    assert browser.driver.find_element("id", "s-title").text == eid
    rows = browser.driver.find_elements("css selector", "#datasets tbody tr")
    listed = []
    for r in rows:
        coll, rev, name = (td.text for td in r.find_elements("tag name", "td")[:3])
        rev = rev.replace("default", "").strip()
        listed.append("/".join(p for p in (coll, f"#{rev}#" if rev else "", name) if p))
        href = r.find_element("css selector", "a").get_attribute("href")
        assert href == (root / eid / listed[-1]).as_uri()
    assert sorted(listed) == sorted(every) and set(expected) <= set(listed)
    badges = [r.text for r in rows if "#" not in r.text and "default" in r.text]
    assert badges, "the default revision of datasets with revisions is marked"
    text = browser.driver.find_element("id", "s-python").text
    assert f"one.load_object('{eid}', 'spikes', collection='alf/probe00')" in text
    assert browser.driver.find_element("id", "s-shell").text == f"one download '{eid}' --repo 'lab'"
    revisions = browser.driver.find_element("id", "s-revisions").text
    assert "2021-06-01" in revisions
    assert browser.console_errors() == []
    _shot(browser, tmp_path, "site-session.png")


def test_site_served_by_a_web_server(browser: Any, local_site: tuple[Path, Path]) -> None:
    import functools
    import threading
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

    site, _ = local_site

    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(site)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        browser.open(f"http://127.0.0.1:{server.server_address[1]}/index.html")
        assert browser.driver.find_element("id", "count").text == "8 of 8 sessions"
        browser.driver.find_element("css selector", "#sessions tbody a").click()
        from selenium.webdriver.support.ui import WebDriverWait

        WebDriverWait(browser.driver, 10).until(lambda d: d.find_elements("css selector", "#datasets tbody tr"))
        assert browser.console_errors() == []
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


# -- escaping: a repository whose metadata holds markup --------------------------------------------
class HostileRepository(Repository):
    """Sessions with <script> in their project, task protocol, description and a javascript: URL."""

    type = "hostile-site"

    def fetch_index(self, state: Any) -> IndexUpdate:
        eid = "9d5c1b4e-0000-4000-8000-000000000001"
        base = "hostlab/Subjects/S1/2022-02-02/001/alf"
        rows = [
            Dataset(f"{base}/spikes.times.npy", "javascript:alert(1)//x", 10, eid=eid),
            Dataset(f"{base}/spikes.clusters.npy", "https://data.example.org/a/spikes.clusters.npy", 20, eid=eid),
        ]
        sessions = [
            SessionRecord(
                eid, "hostlab", "S1", "2022-02-02", 1, projects=[XSS], task_protocol=XSS, extra={"description": XSS}
            )
        ]
        return IndexUpdate(rows=rows, state={"v": 1}, sessions=sessions)


class _HostilePlugin:
    @hookimpl
    def one_register_repository_types(self, register: Callable[[type], None]) -> None:
        register(HostileRepository)


def test_markup_in_metadata_renders_as_text(
    browser: Any, tmp_path: Path, plugin_registry: Any, isolated_home: Path
) -> None:
    from onecore.api import One
    from onecore.site import build_site
    from onecore.testing.fixtures import configure

    plugin_registry(_HostilePlugin())
    repo = HostileRepository("hostile", {}, home=isolated_home)
    configure(repo, home=isolated_home)
    with One(repo=repo.name, home=isolated_home) as one:
        build_site(tmp_path / "site", one, title=f"T {XSS}")
    html = (tmp_path / "site" / "index.html").read_text()
    assert "<script>window.__xss" not in html and "&lt;script&gt;" in html
    browser.console_errors()
    browser.open((tmp_path / "site" / "index.html").as_uri())
    assert browser.driver.execute_script("return window.__xss === undefined")
    assert XSS in browser.driver.find_element("tag name", "h1").text
    browser.driver.find_element("css selector", "#sessions tbody a").click()
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(browser.driver, 10).until(lambda d: d.find_elements("css selector", "#datasets tbody tr"))
    meta = browser.driver.find_element("id", "s-meta").text
    assert meta.count(XSS) == 3  # projects, task protocol, description: shown as text
    assert browser.driver.execute_script("return window.__xss === undefined")
    assert not browser.driver.find_elements("css selector", "#s-meta img, #s-meta script")
    links = [a.get_attribute("href") for a in browser.driver.find_elements("css selector", "#datasets a")]
    assert links == ["https://data.example.org/a/spikes.clusters.npy"]  # no javascript: link
    assert browser.console_errors() == []
    _shot(browser, tmp_path, "site-escaping.png")

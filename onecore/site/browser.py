"""Headless Chromium through selenium, for the site's tests, its benchmark and ``make docs-images``.

Uses the system's ``chromium`` and ``chromedriver`` (Debian: ``apt-get install chromium
chromium-driver``, done by ``.ci/system-deps``); selenium never downloads a browser or a driver.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

#: Flags of every run: headless, no GPU, no network of the browser's own (updates, sync, QUIC...).
FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
)
REPO = Path(__file__).resolve().parents[2]


def find_browser() -> tuple[str | None, str | None]:
    """(chromium binary, chromedriver) found on PATH, or None for what is missing."""
    browser = next(
        (shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)), None
    )
    return browser, shutil.which("chromedriver")


def unavailable_reason(install: bool = False) -> str | None:
    """Why the browser cannot run (None: it can). With ``install``, try ``.ci/system-deps`` first."""
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -e '.[test]')"
    browser, driver = find_browser()
    script = REPO / ".ci" / "system-deps"
    if (browser is None or driver is None) and install and script.exists() and shutil.which("apt-get"):
        try:
            subprocess.run(["bash", str(script)], timeout=900, capture_output=True, check=False)
        except (OSError, subprocess.TimeoutExpired):
            pass
        browser, driver = find_browser()
    if browser is None:
        return "no chromium browser on PATH (apt-get install chromium, see .ci/system-deps)"
    if driver is None:
        return "no chromedriver on PATH (apt-get install chromium-driver, see .ci/system-deps)"
    return None


class Browser:
    """A headless Chromium with a fresh profile; ``driver`` is the selenium WebDriver."""

    def __init__(self, width: int = 1280, height: int = 900):
        from selenium import webdriver
        from selenium.webdriver.chrome.options import Options
        from selenium.webdriver.chrome.service import Service

        browser, driver = find_browser()
        if browser is None or driver is None:
            raise RuntimeError(unavailable_reason() or "no browser")
        os.environ.setdefault("SE_OFFLINE", "true")  # selenium manager: never download anything
        os.environ.setdefault("SE_AVOID_STATS", "true")
        self.profile = tempfile.mkdtemp(prefix="onecore-chromium-")
        opts = Options()
        opts.binary_location = browser
        for flag in (*FLAGS, f"--user-data-dir={self.profile}", f"--window-size={width},{height}"):
            opts.add_argument(flag)
        opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        self.driver: Any = webdriver.Chrome(service=Service(executable_path=driver), options=opts)
        self.driver.set_page_load_timeout(60)
        self.driver.set_script_timeout(60)

    def open(self, url: str, timeout: float = 30) -> None:
        """Load ``url`` and wait until the site's script says it is ready (``body[data-ready]``)."""
        from selenium.webdriver.support.ui import WebDriverWait

        self.driver.get(url)
        WebDriverWait(self.driver, timeout).until(
            lambda d: d.execute_script("return document.body && document.body.dataset.ready === '1'")
        )

    def console_errors(self) -> list[str]:
        """Severe console messages since the last call."""
        return [e["message"] for e in self.driver.get_log("browser") if e.get("level") == "SEVERE"]

    def close(self) -> None:
        try:
            self.driver.quit()
        finally:
            shutil.rmtree(self.profile, ignore_errors=True)

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

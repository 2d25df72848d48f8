"""The test harness itself: the real Alyx answers, is seeded, and its file server serves the files."""

from __future__ import annotations

import pytest
import requests

from onecore.testing.secrets import DATA_PASSWORD

pytestmark = pytest.mark.alyx  # needs the real Alyx server (PostgreSQL + alyx-local)


def test_alyx_server_is_seeded(alyx):
    r = requests.get(alyx.base_url + "/sessions", headers={"Authorization": f"Token {alyx.admin_token()}"}, timeout=30)
    assert r.status_code == 200
    assert r.json()["count"] >= len(alyx.seeded["eids"])  # registration tests add some
    r = requests.get(alyx.base_url + "/sessions", timeout=30)
    assert r.status_code == 403  # no token


def test_alyx_file_server_needs_auth(alyx):
    rel = next(p for p in alyx.seeded["files"] if "#" in p)
    url = alyx.files_url + rel.split("/", 2)[2].replace("#", "%23")
    assert requests.get(url, timeout=10).status_code == 401
    r = requests.get(url, auth=("fileuser", DATA_PASSWORD), timeout=10)
    assert r.status_code == 200 and r.content == alyx.seeded["files"][rel]

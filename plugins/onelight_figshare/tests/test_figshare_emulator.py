"""The emulator itself behaves like the documented figshare API (so the client tests mean something)."""

from __future__ import annotations

import hashlib

import requests

from onecore.testing.secrets import TOKEN as GOOD

OTHER, PART = "bob-token-456", 64 * 1024


def _h(token=GOOD):
    return {"Authorization": f"token {token}"}


def test_auth_and_errors(emu, article):
    url = f"{emu.api_url}/account/articles/{article}"
    assert requests.get(url, headers=_h()).json()["id"] == article
    assert requests.get(url, params={"access_token": GOOD}).status_code == 200
    r = requests.get(url, headers=_h("nope"))
    assert r.status_code == 401 and r.json()["message"] and r.json()["code"]
    assert requests.get(url).status_code == 401
    assert requests.get(url, headers=_h(OTHER)).status_code == 403
    r = requests.get(f"{emu.api_url}/account/articles/1", headers=_h())
    assert r.status_code == 404 and r.json()["message"] == "Article not found"
    r = requests.post(f"{url}/files", data=b"{not json", headers=_h())
    assert r.status_code == 400
    r = requests.post(f"{url}/files", json={"name": "x"}, headers=_h())
    assert r.status_code == 422


def test_pagination(emu, article):
    for i in range(23):
        emu.add_file(article, f"f{i:02d}", b"x")
    url = f"{emu.api_url}/account/articles/{article}/files"
    assert len(requests.get(url, headers=_h()).json()) == 10  # the API's default page size
    names = [f["name"] for f in requests.get(url, headers=_h(), params={"page": 3, "page_size": 10}).json()]
    assert names == ["f20", "f21", "f22"]
    names = [f["name"] for f in requests.get(url, headers=_h(), params={"limit": 2, "offset": 5}).json()]
    assert names == ["f05", "f06"]
    assert requests.get(url, headers=_h(), params={"page": 1, "limit": 5}).status_code == 422
    assert requests.get(url, headers=_h(), params={"page_size": 1001}).status_code == 422
    assert requests.get(url, headers=_h(), params={"page": "x"}).status_code == 422


def test_part_upload_protocol(emu, article):
    data = bytes(range(256)) * (PART * 2 // 256) + b"tail"
    md5 = hashlib.md5(data).hexdigest()
    api = f"{emu.api_url}/account/articles/{article}"
    body = {"name": "a~b.c.npy", "md5": md5, "size": len(data)}
    loc = requests.post(f"{api}/files", json=body, headers=_h())
    assert loc.status_code == 201
    info = requests.get(loc.json()["location"], headers=_h()).json()
    assert info["status"] == "created"
    up = requests.get(info["upload_url"]).json()
    assert up["status"] == "PENDING" and [p["partNo"] for p in up["parts"]] == [1, 2, 3]
    assert up["parts"][0] == {
        "partNo": 1,
        "startOffset": 0,
        "endOffset": PART - 1,
        "status": "PENDING",
        "locked": False,
    }
    assert up["parts"][2]["endOffset"] == len(data) - 1  # inclusive offsets
    # completing early fails; a part of the wrong length is refused
    assert requests.post(loc.json()["location"], headers=_h()).status_code == 400
    assert requests.put(f"{info['upload_url']}/1", data=data[: PART - 1]).status_code == 400
    for p in up["parts"]:
        chunk = data[p["startOffset"] : p["endOffset"] + 1]
        r = requests.put(f"{info['upload_url']}/{p['partNo']}", data=chunk)
        assert r.status_code == 200
    assert requests.get(f"{info['upload_url']}/2").json()["status"] == "COMPLETE"
    assert requests.post(loc.json()["location"], headers=_h()).status_code == 202
    info = requests.get(loc.json()["location"], headers=_h()).json()
    assert info["status"] == "available" and info["computed_md5"] == md5
    # private download needs the token; the public view does not exist before publishing
    assert requests.get(info["download_url"]).status_code == 403
    assert requests.get(info["download_url"], headers=_h()).content == data
    assert requests.get(f"{emu.api_url}/articles/{article}/files").status_code == 404
    emu.publish_now(article)
    assert requests.get(info["download_url"]).content == data
    r = requests.get(info["download_url"], headers={"Range": "bytes=10-"})
    assert r.status_code == 206 and r.content == data[10:]
    public = requests.get(f"{emu.api_url}/articles/{article}/files").json()
    assert [f["name"] for f in public] == ["a~b.c.npy"]


def test_completion_checks_md5(emu, article):
    api = f"{emu.api_url}/account/articles/{article}"
    loc = requests.post(f"{api}/files", json={"name": "x", "md5": "0" * 32, "size": 3}, headers=_h()).json()
    info = requests.get(loc["location"], headers=_h()).json()
    requests.put(f"{info['upload_url']}/1", data=b"abc")
    r = requests.post(loc["location"], headers=_h())
    assert r.status_code == 422 and "MD5" in r.json()["message"]


def test_publish_needs_description_and_faults(emu):
    aid = emu.create_article("alice", title="t", description="")
    r = requests.post(f"{emu.api_url}/account/articles/{aid}/publish", headers=_h())
    assert r.status_code == 400 and "description" in r.json()["message"]
    emu.fail(r"/articles/\d+$", 429, times=2, retry_after=3)
    r = requests.get(f"{emu.api_url}/account/articles/{aid}", headers=_h())
    assert r.status_code == 429 and r.headers["Retry-After"] == "3"
    assert requests.get(f"{emu.api_url}/account/articles/{aid}", headers=_h()).status_code == 429
    assert requests.get(f"{emu.api_url}/account/articles/{aid}", headers=_h()).status_code == 200
    emu.fail("/files", 500, method="POST")
    assert requests.get(f"{emu.api_url}/account/articles/{aid}/files", headers=_h()).status_code == 200
    r = requests.post(f"{emu.api_url}/account/articles/{aid}/files", headers=_h(), json={})
    assert r.status_code == 500

"""Seed a fresh Alyx through its REST API (as admin) and put the datasets' files on the file server.

alyx-local keeps a file's location as a file record ``relative_path`` (``subject/date/NNN/collection/
#rev#/name``, no dataset UUID in the name) and does not build a ``data_url``: the data repository's
``json`` carries ``{"data_url": <file server>}`` so that clients can find the bytes, and the files sit
under the file server's root at exactly the file records' relative paths (checked here).
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np

LABS = ("mainlab", "otherlab")
SUBJECTS = {"SWC_001": "mainlab", "SWC_002": "mainlab", "KS_005": "otherlab", "REG_001": "mainlab"}
#: REG_001 has no session: the registration tests create them.
PROJECT = "brainwide"
REPOSITORY = "flatiron"
REVISION = "2024-05-06"
DATASET_TYPES = ("wheel.timestamps", "wheel.position", "spikes.times", "spikes.clusters", "trials.intervals")

#: key: (subject, date, number, projects, task_protocol, [(collection, revision, type, default)])
SESSIONS: dict[str, tuple[str, str, int, list[str], str, list[tuple[str, str, str, bool]]]] = {
    "s1": (
        "SWC_001",
        "2021-03-04",
        1,
        [PROJECT],
        "ephysChoiceWorld",
        [
            ("alf", "", "wheel.timestamps", True),
            ("alf", "", "wheel.position", True),
            ("alf/probe00", "", "spikes.times", True),
            ("alf/probe01", "", "spikes.times", True),
            ("alf/probe00", REVISION, "spikes.clusters", True),
        ],
    ),
    "s2": (
        "SWC_001",
        "2021-03-05",
        1,
        [],
        "trainingChoiceWorld",
        [
            ("alf", "", "wheel.timestamps", True),
            ("alf", "", "trials.intervals", True),
        ],
    ),
    "s3": (
        "SWC_002",
        "2021-03-05",
        2,
        [PROJECT],
        "ephysChoiceWorld",
        [
            ("alf/probe00", "", "spikes.times", True),
        ],
    ),
    "s4": (
        "KS_005",
        "2020-12-01",
        1,
        [],
        "passiveWorld",
        [
            ("alf", "", "trials.intervals", True),
        ],
    ),
}


def npy_bytes(seed: int, n: int = 50) -> bytes:
    buf = io.BytesIO()
    np.save(buf, np.arange(n, dtype=np.float64) * 0.5 + seed)
    return buf.getvalue()


def seed(srv: Any) -> dict[str, Any]:
    """Create the labs, subjects, project, data repository, sessions and datasets; return what was made.

    ``srv`` is an :class:`alyx_server.AlyxServer`. The result (also in ``srv.seeded``) has ``eids``
    (key -> session UUID), ``files`` (ALF path from the lab folder -> bytes), ``datasets`` (ALF path ->
    dataset UUID).
    """
    for lab in LABS:
        srv.request("POST", "labs", {"name": lab})
    for nick, lab in SUBJECTS.items():
        srv.request("POST", "subjects", {"nickname": nick, "lab": lab, "sex": "M", "birth_date": "2020-01-01"})
    srv.request("POST", "projects", {"name": PROJECT, "users": ["admin"]})
    srv.request(
        "POST", "data-repository", {"name": REPOSITORY, "hostname": "files", "json": {"data_url": srv.files_url}}
    )
    srv.request("POST", "data-formats", {"name": "npy", "file_extension": ".npy"})
    for t in DATASET_TYPES:
        obj, attr = t.split(".")
        srv.request("POST", "dataset-types", {"name": t, "object": obj, "attribute": attr})
    revision_pk = srv.request("POST", "revisions", {"name": REVISION})["id"]
    out: dict[str, Any] = {"eids": {}, "files": {}, "datasets": {}, "repository": REPOSITORY}
    k = 0
    for key, (subject, date, number, projects, protocol, datasets) in SESSIONS.items():
        lab = SUBJECTS[subject]
        sess = srv.request(
            "POST",
            "sessions",
            {
                "subject": subject,
                "lab": lab,
                "start_time": f"{date}T10:00:00",
                "number": number,
                "projects": projects,
                "task_protocol": protocol,
                "users": ["admin"],
            },
        )
        eid = sess["id"]
        out["eids"][key] = eid
        for collection, revision, dtype, default in datasets:
            k += 1
            content = npy_bytes(k)
            size, md5 = srv.put_file("tmp.npy", content)
            body = {
                "session_pk": eid,
                "dataset_type": dtype,
                "data_format": ".npy",
                "collection": collection,
                "data_repository": REPOSITORY,
                "file_size": size,
                "default_dataset": default,
                "set_file_records": [{"exists": True, "hash": md5}],
            }
            if revision:
                body["revision_pk"] = revision_pk
            ds = srv.request("POST", "datasets", body)
            rel = ds["file_records"][0]["relative_path"]
            rev = f"#{revision}#/" if revision else ""
            expected = f"{subject}/{date}/{number:03d}/{collection}/{rev}{dtype}.npy"
            assert rel == expected, (rel, expected)
            srv.put_file(rel, content)
            out["files"][f"{lab}/Subjects/{expected}"] = content
            out["datasets"][f"{lab}/Subjects/{expected}"] = ds["id"]
    (srv.files_root / "tmp.npy").unlink()
    srv.seeded = out
    return out

"""The alyx repository type runs onecore's repository conformance suite against the real Alyx server.

The server (session-scoped, see ``conftest.py``) is shared, so each test gets an empty repository of
its own: a new lab (the repository's ``lab`` setting restricts it to that lab), with the subjects of
the generated data root, a data repository of its own on the test file server, and a ``local``
transfer repository writing into the folder that data repository's URL serves. Uploads send the bytes
through that transfer repository and register them (``create_sessions: true``).

Like ``ONE(base_url=...)``, the repository authenticates with a cached token (no password in its
settings: alyx-local's admin password is also its username, which would make the suite's "no secret in
repr" check meaningless).
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any, Iterator

import pytest
from one_alyx.client import write_token
from one_alyx.repository import AlyxRepository
from one_alyx.testing.alyx_server import free_port

from onecore import alf
from onecore.builtins.local import LocalRepository
from onecore.scan import scan
from onecore.testing.conformance import RepositoryConformance
from onecore.testing.fixtures import configure
from onecore.testing.secrets import DATA_PASSWORD

pytestmark = pytest.mark.alyx  # needs the real Alyx server (PostgreSQL + alyx-local)

_LABS = itertools.count(1)


@pytest.fixture
def alyx_lab(alyx: Any) -> str:
    """A new, empty lab on the shared server.

    Its name starts with 4 characters of its own because the generated data root names subjects after
    them (``C001_001``), and Alyx subject nicknames are unique per responsible user.
    """
    lab = f"c{next(_LABS):03d}lab"
    alyx.request("POST", "labs", {"name": lab})
    return lab


class TestAlyxConformance(RepositoryConformance):
    # two sessions (the CLI test needs one without revisions), dated after the seeded sessions and the
    # registration tests' ones: the other tests search the shared server up to 2021 and in 2022
    data_root_options = {"subjects": 2, "start": "2031-01-06"}

    @pytest.fixture
    def data_root_overrides(self, alyx_lab: str) -> dict[str, Any]:
        return {"labs": (alyx_lab,)}

    @pytest.fixture
    def repository(self, one_home: Path, alyx: Any, alyx_lab: str, data_root: Path) -> Iterator[AlyxRepository]:
        store = alyx.files_root / f"{alyx_lab}-store"
        store.mkdir()
        data_repository = f"{alyx_lab}_files"
        # alyx-local's file records are relative to the lab's Subjects folder
        alyx.request(
            "POST",
            "data-repository",
            {
                "name": data_repository,
                "hostname": f"{alyx_lab}-files",
                "json": {"data_url": f"{alyx.files_url}{alyx_lab}-store/{alyx_lab}/Subjects/"},
            },
        )
        for subject in sorted({alf.parse(p)["subject"] for p in scan(data_root)}):
            alyx.request(
                "POST", "subjects", {"nickname": subject, "lab": alyx_lab, "sex": "M", "birth_date": "2020-01-01"}
            )
        configure(LocalRepository(f"{alyx_lab}-store", {"root_dir": str(store)}, home=one_home), current=False)
        write_token(one_home, alyx.base_url, "admin", alyx.admin_token())
        settings = {
            "base_url": alyx.base_url,
            "username": "admin",
            "lab": alyx_lab,
            "data_login": "fileuser",
            "data_password": DATA_PASSWORD,
            "data_repository": data_repository,
            "transfer_repo": f"{alyx_lab}-store",
            "create_sessions": True,
        }
        with AlyxRepository("conformance", settings, home=one_home) as repo:
            yield repo

    @pytest.fixture
    def unreachable_repository(self, one_home: Path, alyx_lab: str) -> AlyxRepository:
        base_url = f"http://127.0.0.1:{free_port()}/api"
        write_token(one_home, base_url, "admin", "0" * 40)
        return AlyxRepository("gone", {"base_url": base_url, "username": "admin", "lab": alyx_lab}, home=one_home)

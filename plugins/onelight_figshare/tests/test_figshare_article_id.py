"""Parsing the article id from what users paste, and the settings of the type."""

from __future__ import annotations

import pytest
from onelight_figshare import FigshareRepository, parse_article_id

from onecore.errors import ConfigError


@pytest.mark.parametrize(
    "text",
    [
        "12345678",
        " 12345678 ",
        12345678,
        "https://figshare.com/articles/dataset/Some_title/12345678",
        "https://figshare.com/articles/dataset/Some_title/12345678/2",
        "https://figshare.com/articles/dataset/2019/12345678",
        "https://figshare.com/articles/Dataset_from_Steinmetz_et_al_2019/12345678",
        "https://figshare.com/articles/12345678/2",
        "https://figshare.com/articles/12345678",
        "https://figshare.com/account/articles/12345678",
        "https://figshare.com/account/articles/12345678/",
        "https://figshare.com/articles/dataset/Some_title/12345678?file=999",
        "figshare.com/articles/dataset/Some_title/12345678",
        "https://janelia.figshare.com/articles/dataset/Title/12345678/1",
        "https://api.figshare.com/v2/articles/12345678",
        "https://doi.org/10.6084/m9.figshare.12345678.v2",
        "https://doi.org/10.6084/m9.figshare.12345678",
        "10.6084/m9.figshare.12345678.v3",
        "doi:10.25378/janelia.12345678.v1",
    ],
)
def test_article_forms(text):
    assert parse_article_id(text) == 12345678


@pytest.mark.parametrize(
    "text, words",
    [
        ("", "required"),
        ("not an url", "cannot find"),
        ("https://figshare.com/s/865e694ad06d5857db4b", "private link"),
        ("https://figshare.com/projects/My_project/12345", "project"),
        ("https://figshare.com/collections/Coll/12345", "collection"),
        ("https://ndownloader.figshare.com/files/12345", "file"),
        ("https://figshare.com/articles/dataset/title_only", "cannot find"),
        ("0", "positive"),
        (True, "must be"),
    ],
)
def test_article_errors(text, words):
    with pytest.raises(ConfigError) as e:
        parse_article_id(text, "myrepo")
    assert "myrepo" in str(e.value) and words in str(e.value)


def test_settings_defaults_and_legacy_field(monkeypatch):
    s = FigshareRepository.normalize_settings({"article": "https://figshare.com/articles/x/42424242/1"}, "r")
    assert s == {"article": 42424242, "token": None, "api_url": "https://api.figshare.com/v2", "public": False}
    # ONE light's config used article_id (and stored root_file_id): still readable
    s = FigshareRepository.normalize_settings({"article_id": 9598406, "root_file_id": 5, "token": "t"}, "r")
    assert s["article"] == 9598406 and s["token"] == "t"
    monkeypatch.setenv("FIGSHARE_TOKEN", "from-env")
    s = FigshareRepository.normalize_settings({"article": "1", "public": "yes"}, "r")
    assert s["token"] == "from-env" and s["public"] is True
    # normalizing twice is stable
    assert FigshareRepository.normalize_settings(s, "r") == s


def test_settings_errors():
    with pytest.raises(ConfigError, match="'article' is required"):
        FigshareRepository.normalize_settings({}, "r")
    with pytest.raises(ConfigError, match="api_url"):
        FigshareRepository.normalize_settings({"article": "1", "api_url": "ftp://x"}, "r")
    with pytest.raises(ConfigError, match="unknown field"):
        FigshareRepository.normalize_settings({"article": "1", "bogus": 1}, "r")


def test_token_is_masked(tmp_path):
    r = FigshareRepository("r", {"article": "1", "token": "very-secret"}, home=tmp_path)
    assert "very-secret" not in repr(r) and "very-secret" not in repr(r.api)
    assert "very-secret" not in repr(r.fetcher())

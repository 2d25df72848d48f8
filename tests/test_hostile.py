"""Hostile input: property-based tests of every core parser, and path-escape refusals.

Only onecore's own errors (OneError subclasses with a message) may escape; never KeyError,
IndexError, UnicodeDecodeError or a bare traceback.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from onecore import alf
from onecore.config import Config
from onecore.errors import ConfigError, OneError, UnsafePathError
from onecore.index import IndexProblem, read_index_file, read_one_root
from onecore.transfer import check_relpath, safe_join

FUZZ = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
ALF_CHARS = st.sampled_from(list("abcXYZ019_.-#/ \\~%:\u2024\uff0f\u0000é"))
alfish = st.lists(
    st.one_of(
        st.sampled_from(
            [
                "lab",
                "Subjects",
                "s1",
                "2020-01-01",
                "001",
                "alf",
                "#r#",
                "spikes.times.npy",
                "..",
                ".",
                "",
                "a.b",
                "_ns_o.a.x.e",
            ]
        ),
        st.text(ALF_CHARS, max_size=12),
    ),
    max_size=9,
).map("/".join)


@FUZZ
@given(st.one_of(alfish, st.text(max_size=80)))
def test_alf_parse_only_raises_alferror(path):
    try:
        d = alf.parse(path)
    except alf.ALFError as e:
        assert str(e)
        return
    assert list(d) == list(alf.PARTS)
    assert alf.full_path(**d) == path  # a valid path round-trips exactly
    check_relpath(path)  # and is always a safe relative path


@FUZZ
@given(st.text(max_size=60))
def test_alf_filename_only_raises_alferror(name):
    try:
        alf.parse_filename(name)
    except alf.ALFError:
        pass


@FUZZ
@given(
    st.lists(st.one_of(alfish, st.text(max_size=40)), max_size=6),
    st.lists(st.text(st.sampled_from("\t0123456789abcdef htp:/x"), max_size=40), max_size=6),
)
def test_one_root_reader_never_crashes(paths, tails):
    text = "\n".join(f"{p}{t}" for p, t in zip(paths, tails + [""] * len(paths)))
    problems: list[IndexProblem] = []
    rows = list(read_one_root(io.StringIO(text), base_url="http://h/", problems=problems))
    for r in rows:
        check_relpath(r.rel_path)
        alf.parse(r.rel_path)
    assert len(rows) + len(problems) <= sum(1 for ln in io.StringIO(text) if ln.strip())


@FUZZ
@given(st.binary(max_size=300))
def test_index_file_bytes_never_crash(tmp_path_factory, data):
    p = tmp_path_factory.mktemp("idx") / ".one_root"
    p.write_bytes(data)
    problems: list[IndexProblem] = []
    list(read_index_file(p, problems=problems))
    assert all(str(x) for x in problems)


yaml_like = st.lists(
    st.sampled_from(list("abc:{}[]-'\"\n #&*!|>%@`\t:1") + ["type", "repositories", "current"]), max_size=40
).map("".join)


@FUZZ
@given(st.one_of(yaml_like, st.text(max_size=80)))
def test_config_parser_only_raises_configerror(text):
    try:
        c = Config.parse(text, Path("/tmp/x/config.yaml"))
    except ConfigError as e:
        assert "/tmp/x/config.yaml" in str(e)
        return
    assert isinstance(c.repositories, dict)


@pytest.mark.parametrize(
    "rel",
    [
        "../x",
        "a/../../x",
        "/etc/passwd",
        "C:/x",
        "c:\\x",
        "a\\..\\x",
        "%2e%2e/x",
        "~/x",
        "~root/x",
        "a/\u2024\u2024/x",
        "a\uff0f..\uff0fx",
        "a/./b",
        "a//b",
        "",
        "a/b\x00c",
        "a/b\n",
        "é/x",
    ],
)
def test_unsafe_relative_paths_are_refused(tmp_path, rel):
    with pytest.raises(UnsafePathError):
        safe_join(tmp_path, rel)


def test_symlink_in_cache_pointing_outside_is_refused(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    cache = tmp_path / "cache"
    (cache / "lab/Subjects").mkdir(parents=True)
    os.symlink(outside, cache / "lab/Subjects/s1")
    with pytest.raises(UnsafePathError, match="symbolic link"):
        safe_join(cache, "lab/Subjects/s1/2020-01-01/001/a.b.c")
    # a cache that is itself a symlink (data on another disk) is fine
    os.symlink(cache, tmp_path / "link")
    assert safe_join(tmp_path / "link", "lab/x.y.z").name == "x.y.z"


def test_download_never_writes_outside(tmp_path):
    from onecore.transfer import TransferItem, download

    class Never:
        def open(self, url, offset=0):  # noqa: ANN001
            raise AssertionError("no request may be made for an unsafe path")

        def close(self):
            pass

    items = [
        TransferItem(r, "http://127.0.0.1:9/x")
        for r in ("../evil.npy", "/tmp/evil.npy", "a/../../evil.npy", "%2e%2e/evil.npy", "a\\..\\evil.npy")
    ]
    rep = download(items, tmp_path / "dest", Never())
    assert len(rep.failed) == 5 and all("refused" in e for _, e in rep.failed)
    assert not list(tmp_path.rglob("evil*"))


def test_errors_are_onecore_errors():
    for exc in (alf.ALFError, ConfigError, UnsafePathError):
        assert issubclass(exc, OneError)


def test_fuzz_target_runs_clean():
    import importlib.util

    spec = importlib.util.spec_from_file_location("fuzz_parsers", Path(__file__).parents[1] / "fuzz/fuzz_parsers.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    assert mod.run(3000, seed=1)["runs"] == 3000

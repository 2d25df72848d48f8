"""The ALF parser: onecore.alf."""

from __future__ import annotations

import pytest

from onecore import alf

FULL = "nicklab/Subjects/Cori/2016-12-14/001/alf/probe00/#2024-05-06#/_ibl_spikes.times_ephysClock.raw.v2.npy"


def test_parse_full_path_returns_exactly_the_documented_keys():
    d = alf.parse(FULL)
    assert list(d) == list(alf.PARTS)
    assert d == {
        "lab": "nicklab",
        "subject": "Cori",
        "date": "2016-12-14",
        "number": "001",
        "collection": "alf/probe00",
        "revision": "2024-05-06",
        "namespace": "ibl",
        "object": "spikes",
        "attribute": "times",
        "timescale": "ephysClock",
        "extra": "raw.v2",
        "extension": "npy",
    }


def test_parse_minimal_and_without_lab():
    d = alf.parse("Cori/2016-12-14/1/spikes.times.npy")
    assert d["lab"] is None and d["number"] == "1" and d["collection"] is None
    assert d["revision"] is None and d["namespace"] is None and d["extra"] is None


@pytest.mark.parametrize(
    "name, attribute, timescale",
    [
        ("trials.goCue_times.npy", "goCue_times", None),
        ("trials.goCue_times_bpod.npy", "goCue_times", "bpod"),
        ("trials.intervals.npy", "intervals", None),
        ("trials.stim_intervals_bpod.npy", "stim_intervals", "bpod"),
        ("spikes.times_ephysClock.npy", "times", "ephysClock"),
    ],
)
def test_attribute_suffixes_and_timescale(name, attribute, timescale):
    d = alf.parse_filename(name)
    assert (d["attribute"], d["timescale"]) == (attribute, timescale)


@pytest.mark.parametrize(
    "path, reason",
    [
        ("nicklab/Subjects/Cori/2016-12-14/001/alf/spikes.npy", "two dots"),
        ("nicklab/Subjects/Cori/2016-13-14/001/alf/spikes.times.npy", "calendar date"),
        ("nicklab/Subjects/Cori/16-12-14/001/alf/spikes.times.npy", "not a session date"),
        ("nicklab/Cori/2016-12-14/001/alf/spikes.times.npy", "expected lab/Subjects"),
        ("nicklab/Subjects/Cori/2016-12-14/0001/spikes.times.npy", "session number"),
        ("nicklab/Subjects/Cori/2016-12-14/001/../../x/spikes.times.npy", "'..'"),
        ("/abs/Subjects/Cori/2016-12-14/001/spikes.times.npy", "relative path"),
        ("nicklab\\Subjects\\Cori\\2016-12-14\\001\\spikes.times.npy", "backslashes"),
        ("nicklab/Subjects/Cori/2016-12-14/001/#rev#/alf/spikes.times.npy", "revision folder"),
        ("nicklab/Subjects/Cori/2016-12-14/001", "session folder"),
        ("nicklab/Subjects/Co ri/2016-12-14/001/spikes.times.npy", "subject"),
        ("", "non-empty"),
    ],
)
def test_invalid_paths_raise_alferror_with_reason(path, reason):
    with pytest.raises(alf.ALFError) as e:
        alf.parse(path)
    assert isinstance(e.value, ValueError)
    assert reason in str(e.value)


def test_builders_round_trip():
    d = alf.parse(FULL)
    assert alf.full_path(**d) == FULL
    assert alf.session_path("lab", "subj", "2020-01-01", 3) == "lab/Subjects/subj/2020-01-01/003"
    assert (
        alf.filename("spikes", "times", "npy", namespace="ibl", timescale="bpod", extra=["a", "b"])
        == "_ibl_spikes.times_bpod.a.b.npy"
    )
    with pytest.raises(alf.ALFError):
        alf.filename("spikes", "", "npy")


def test_session_path_parser():
    assert alf.parse_session_path("lab/Subjects/s/2020-01-01/001/") == {
        "lab": "lab",
        "subject": "s",
        "date": "2020-01-01",
        "number": "001",
    }
    with pytest.raises(alf.ALFError):
        alf.parse_session_path("lab/Subjects/s/2020-01-01/001/alf")


@pytest.mark.parametrize(
    "name, ns, obj",
    [
        ("_ibl_wheel.position.npy", "ibl", "wheel"),
        ("_ibl_wheel_moves.intervals.npy", "ibl", "wheel_moves"),
        ("wheel_moves.intervals.npy", None, "wheel_moves"),
    ],
)
def test_namespace_needs_both_underscores(name, ns, obj):
    d = alf.parse_filename(name)
    assert (d["namespace"], d["object"]) == (ns, obj)
    assert alf.filename(**d) == name


def test_ambiguous_leading_underscore_is_refused():
    with pytest.raises(alf.ALFError):
        alf.parse_filename("_iblwheel.position.npy")

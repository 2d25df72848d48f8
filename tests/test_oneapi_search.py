"""ONE-api's search semantics (issue 14): regex partial text terms, lists, numbers, dates, details."""

from __future__ import annotations

import datetime as dt

import pytest

from onecore import One
from onecore.errors import OneError
from onecore.testing.ibl_tree import SESSIONS, make_ibl_tree

A, B, C, D = (SESSIONS[k] for k in "abcd")


@pytest.fixture
def one(tmp_path, one_home):
    make_ibl_tree(tmp_path / "root")
    with One(cache_dir=tmp_path / "root", home=one_home) as o:
        yield o


def test_text_terms_are_case_sensitive_partial_regular_expressions(one):
    assert set(one.search(subject="KS0")) == {A, B, C, D}
    assert one.search(subject="^KS005$") == [A]
    assert set(one.search(subject="KS005")) == {A, C}  # partial: KS0050 too
    assert one.search(subject="ks005") == []  # case-sensitive
    assert set(one.search(lab="cortex")) == {A, B, D}
    assert set(one.search(laboratory="church")) == {C}
    assert set(one.search(subject=["^KS005$", "KS023"])) == {A, B, D}  # a list is an OR


def test_a_text_term_that_is_no_regular_expression_is_one_clear_error(one):
    with pytest.raises(OneError, match=r"lab='\*lab' is not a valid regular expression .* write '\.\*lab'"):
        one.search(lab="*lab")
    with pytest.raises(OneError, match=r"subject='KS\(' is not a valid regular expression"):
        one.search(subject=["KS005", "KS("])
    one.wildcards = False  # plain substrings: no regular expression to get wrong
    assert one.search(subject="KS(") == []


def test_wildcards_false_means_plain_substrings(one):
    one.wildcards = False
    assert one.search(subject="^KS005$") == []
    assert set(one.search(subject="KS02")) == {B, D}


def test_number_takes_a_value_or_a_list(one):
    assert set(one.search(number=1)) == {A, B}
    assert set(one.search(number=[2, 3])) == {C, D}
    assert set(one.search(number="003")) == {D}


def test_date_range_forms(one):
    assert one.search(date_range="2023-01-01") == [A]
    assert set(one.search(date_range=dt.date(2023, 1, 2))) == {B, C}
    assert set(one.search(date_range=dt.datetime(2023, 1, 2, 15, 30))) == {B, C}  # the whole day
    assert set(one.search(date_range=["2023-01-02", None])) == {B, C, D}
    assert set(one.search(date_range=[None, dt.date(2023, 1, 2)])) == {A, B, C}
    assert set(one.search(date_range=("2023-01-02", "2023-01-04"))) == {B, C, D}


def test_dataset_terms_take_exact_names_and_regular_expressions(one):
    assert one.search(dataset="_ibl_trials.table.pqt") == [A]
    assert set(one.search(datasets=["_ibl_trials.choice.npy"])) == {B, D}
    assert set(one.search(dataset=r"_ibl_trials\.choice\..*")) == {B, D}
    assert set(one.search(dataset="spikes.times")) == {A, C}  # onecore's object.attribute stays
    assert one.search(datasets=["spikes.times", "_ibl_trials.table.pqt"]) == [A]  # AND


def test_details_is_a_tuple_of_eids_and_records(one):
    eids, details = one.search(subject="^KS005$", details=True)
    assert eids == [A]
    d = details[0]
    assert d["lab"] == "cortexlab" and d["subject"] == "KS005" and d["number"] == 1
    assert d["date"] == dt.date(2023, 1, 1) and d.subject == "KS005"
    assert {"projects", "task_protocol"} <= set(d)
    assert one.search(subject="nobody", details=True) == ([], None)  # ONE-api's empty answer


def test_search_terms_and_abbreviations(one):
    terms = one.search_terms()
    assert "lab" in terms and "laboratory" in terms and "dataset_qc_lte" in terms
    assert set(one.search(subj="^KS023$")) == {B, D}
    assert one.search(data="_ibl_trials.table.pqt") == [A]
    with pytest.raises(OneError, match="ambiguous search term 'd'"):
        one.search(d="x")
    assert set(one.search(dataset_qc_lte="PASS")) == {A, B, C, D}  # no QC outside Alyx: no effect
    assert one.search(query_type="local", subject="^KS005$") == [A]

"""Hypothesis strategies for hostile server answers, for plugin authors' parser tests (needs hypothesis).

from onecore.testing.hostile import hostile_json, mutated_json
JSON = hostile_json(["..", "/abs"])                      # any JSON, with nasty strings and numbers
@given(mutated_json([real_answer, other_answer], keys=["id", "name"], json=JSON))
def test_parser(doc): ...                                # only OneError may escape the parser
"""

from __future__ import annotations

import json
from typing import Any, Sequence

from hypothesis import strategies as st

#: Strings that have broken parsers and path handling before.
NASTY = ("..", "../../etc", "/abs", "%2e%2e", "a\\..\\b", "C:", "~", "\u2024\u2024", "\u2025", "\x00", "", "x.y.npy")


def hostile_json(nasty: Sequence[str] = (), max_leaves: int = 30) -> st.SearchStrategy[Any]:
    """Any JSON document, biased towards ``nasty`` strings (plus :data:`NASTY`), huge and odd numbers."""
    numbers = st.one_of(
        st.integers(min_value=-(2**70), max_value=2**70),
        st.floats(allow_nan=True),
        st.sampled_from([0, 1, -1, 2**63, 10**100]),
    )
    scalars = st.one_of(st.none(), st.booleans(), numbers, st.text(max_size=30), st.sampled_from([*NASTY, *nasty]))
    return st.recursive(
        scalars,
        lambda kids: st.one_of(st.lists(kids, max_size=5), st.dictionaries(st.text(max_size=12), kids, max_size=6)),
        max_leaves=max_leaves,
    )


def mutated_json(
    answers: Sequence[Any], keys: Sequence[str], json_strategy: st.SearchStrategy[Any] | None = None
) -> st.SearchStrategy[Any]:
    """Real ``answers`` (JSON-able) with keys dropped, values replaced by hostile ones (or by ``keys``
    added with hostile values), recursively, and items appended to lists."""
    anything = json_strategy if json_strategy is not None else hostile_json()

    @st.composite
    def mutated(draw: Any) -> Any:
        doc = json.loads(json.dumps(draw(st.sampled_from(list(answers)))))

        def visit(node: Any) -> Any:
            if isinstance(node, dict):
                for key in list(node):
                    action = draw(st.integers(0, 5))
                    if action == 0:
                        del node[key]
                    elif action == 1:
                        node[key] = draw(anything)
                    else:
                        node[key] = visit(node[key])
                if draw(st.booleans()):
                    node[draw(st.sampled_from(list(keys)))] = draw(anything)
            elif isinstance(node, list):
                node = [visit(n) for n in node]
                if draw(st.booleans()):
                    node.append(draw(anything))
            return node

        return visit(doc)

    return mutated()

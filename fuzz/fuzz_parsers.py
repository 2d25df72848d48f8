"""Fuzz target for every parser of untrusted input.

    .venv/bin/python fuzz/fuzz_parsers.py                  # 200,000 mutated inputs (no extra package)
    .venv/bin/python fuzz/fuzz_parsers.py --runs 1000000
    .venv/bin/python fuzz/fuzz_parsers.py --atheris -atheris_runs=1000000   # coverage-guided (pip install atheris)

Each input is fed to the ALF parser, the ``.one_root`` reader, the config loader, and the parsers of
server answers that plugins register in :data:`EXTRA_TARGETS` (figshare and Alyx JSON). Only onecore's
own errors (:class:`onecore.errors.OneError` and ``ValueError`` subclasses of it) may escape; anything
else is a crash, printed with the input that caused it.
"""

from __future__ import annotations

import argparse
import io
import random
import sys
import time
from pathlib import Path
from typing import Callable

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from onecore import alf  # noqa: E402
from onecore.config import Config  # noqa: E402
from onecore.errors import OneError  # noqa: E402
from onecore.index import IndexProblem, read_one_root  # noqa: E402
from onecore.transfer import check_relpath  # noqa: E402

SEEDS = [
    b"nicklab/Subjects/Cori/2016-12-14/001/alf/probe00/#2024-05-06#/_ibl_spikes.times_ephysClock.raw.npy",
    b"Cori/2016-12-14/001/spikes.times.npy\thttps://ndownloader.figshare.com/files/1\t12\t" + b"a" * 32,
    b"current: a\nrepositories:\n  a:\n    type: http\n    base_url: http://h/\n    password: ${PW}\n",
    b'{"id": 1, "files": [{"id": 2, "name": "lab~Subjects~s~2020-01-01~001~alf~a.b.npy", "size": 3}]}',
    b'{"count": 1, "next": null, "results": [{"id": "d3372b15-f696-4279-9be5-98f15783b5bb"}]}',
]


def _alf(text: str) -> None:
    for line in text.splitlines() or [text]:
        try:
            d = alf.parse(line)
        except alf.ALFError:
            continue
        assert alf.full_path(**d) == line, line
        check_relpath(line)


def _index(text: str) -> None:
    problems: list[IndexProblem] = []
    for row in read_one_root(io.StringIO(text), base_url="http://h/", problems=problems):
        check_relpath(row.rel_path)


def _config(text: str) -> None:
    try:
        Config.parse(text, Path("/fuzz/config.yaml"))
    except OneError:
        pass


TARGETS: list[Callable[[str], None]] = [_alf, _index, _config]
#: Parsers of server answers, added by the plugins' fuzz hooks (module, function) when importable.
EXTRA_TARGETS = [("onelight_figshare.testing.fuzz", "parse_answer"), ("one_alyx.testing.fuzz", "parse_answer")]


def load_extra_targets() -> list[str]:
    import importlib

    names = []
    for mod, fn in EXTRA_TARGETS:
        try:
            TARGETS.append(getattr(importlib.import_module(mod), fn))
            names.append(f"{mod}.{fn}")
        except (ImportError, AttributeError):
            pass
    return names


def one_input(data: bytes) -> None:
    text = data.decode("utf-8", "replace")
    for target in TARGETS:
        try:
            target(text)
        except OneError:
            pass


def mutate(rng: random.Random, data: bytes) -> bytes:
    b = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        op = rng.randrange(6)
        pos = rng.randrange(len(b) + 1)
        if op == 0 and b:
            del b[pos % len(b)]
        elif op == 1:
            b.insert(pos, rng.randrange(256))
        elif op == 2:
            b[pos:pos] = rng.choice(
                [
                    b"/",
                    b"..",
                    b"\t",
                    b"\n",
                    b"#",
                    b"%2e",
                    b"\\",
                    b"\x00",
                    b"\xff",
                    b"{",
                    b"}",
                    b":",
                    b"- ",
                    b"\r\n",
                    "\u2024".encode(),
                    b"Subjects",
                    b"001",
                    b"2021-02-30",
                ]
            )
        elif op == 3 and b:
            b[pos % len(b)] = rng.randrange(256)
        elif op == 4:
            other = rng.choice(SEEDS)
            b[pos:pos] = other[: rng.randrange(len(other) + 1)]
        elif op == 5 and len(b) > 2:
            i = rng.randrange(len(b))
            b = b[:i] + b[i:][::-1][: rng.randrange(len(b) - i + 1)]
    return bytes(b)


def run(runs: int, seed: int = 0) -> dict[str, float]:
    rng = random.Random(seed)
    corpus = list(SEEDS)
    t0 = time.perf_counter()
    for i in range(runs):
        data = mutate(rng, rng.choice(corpus))
        try:
            one_input(data)
        except Exception:
            print(f"CRASH on input {data!r}", file=sys.stderr)
            raise
        if i % 1000 == 0 and len(corpus) < 2000:
            corpus.append(data)
    return {"runs": runs, "seconds": time.perf_counter() - t0}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=200_000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--atheris", action="store_true", help="coverage-guided fuzzing with atheris")
    args, rest = p.parse_known_args(argv)
    extra = load_extra_targets()
    if args.atheris:
        import atheris

        atheris.Setup([sys.argv[0], *rest], one_input)
        atheris.Fuzz()
        return 0
    res = run(args.runs, args.seed)
    names = ", ".join(["alf", "one_root", "config", *extra])
    print(f"fuzz: {res['runs']} inputs through {len(TARGETS)} parsers ({names}) in {res['seconds']:.1f}s: no crash")
    return 0


if __name__ == "__main__":
    sys.exit(main())

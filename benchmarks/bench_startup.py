"""Start-up and offline benchmark: the `one` command against a bare ``python -c pass`` of the same venv.

Measured (each the best of ``BENCH_STARTUP_REPEAT`` runs, default 15, interleaved; a warm-up run
first, with bytecode caching on, so every command is timed with its ``.pyc`` files written):

- ``import onecore`` — target ≤ 1.5× ``python -c pass``;
- ``one --help`` and ``one search --help`` — target ≤ 2×: answered from the help cache
  (:mod:`onecore.helpcache`) after the warm-up run; the ``(rendered)`` rows are the same requests with
  ``ONE_HELP_CACHE=0``, what the first request after an install or an upgrade costs (click renders);
- ``one search --mode local`` on a local repository whose catalog is built — target ≤ 3×;
- two floors, for reading the ``--help`` ratios: ``import click`` alone, and the ``--help`` of a bare
  click group with as many commands and options as ``one`` (what any click CLI pays before its code);
- ``one search`` (auto) with the repository's HTTP server down (connection refused) against the
  same search in ``--mode local`` — target ≤ 1.5× (the fall-back to the cached catalog must be fast).

Everything runs in a temporary ``$ONE_HOME`` (a generated data root, a ``local`` repository and an
``http`` one served by :class:`onecore.testing.servers.FileServer` on 127.0.0.1, stopped before the
offline measurement).

Run: ``.venv/bin/python benchmarks/bench_startup.py [--quick]`` (``main()`` returns the rows).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

BIN = Path(sys.executable).parent
TARGETS = {"import onecore": 1.5, "one --help": 2.0, "one search --help": 2.0, "one search --mode local": 3.0}
TARGET_OFFLINE = 1.5


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONDONTWRITEBYTECODE", "ONE_MODE", "ONE_PLUGINS")}
    env["ONE_HOME"] = str(home)
    return env


def _one() -> list[str]:
    exe = BIN / "one"
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "onecore.cli"]


def _time(cmd: list[str], env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    p = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    elapsed = time.perf_counter() - t0
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited with {p.returncode}")
    return elapsed


def _best(commands: dict[str, list[str]], env: dict[str, str], repeat: int) -> dict[str, float]:
    """Best time of each command; a name ending in ``(rendered)`` runs with the help cache off."""
    envs = {k: {**env, "ONE_HELP_CACHE": "0"} if k.endswith("(rendered)") else env for k in commands}
    for name, cmd in commands.items():  # warm-up: writes the .pyc files (and the help cache)
        _time(cmd, envs[name])
    best = {k: float("inf") for k in commands}
    for _ in range(repeat):
        for name, cmd in commands.items():
            best[name] = min(best[name], _time(cmd, envs[name]))
    return best


_CLICK_APP = """
import click

@click.group()
def cli():
    \"\"\"A bare click group: the floor under any click command line's start-up.\"\"\"

for i in range({n}):
    @cli.command(name=f"command{{i}}")
    @click.option("--repo", help="a repository")
    @click.option("--json", "as_json", is_flag=True, help="JSON output")
    @click.option("--mode", type=click.Choice(["auto", "local"]), help="the mode")
    def f(repo, as_json, mode):
        \"\"\"One line of help.\"\"\"

cli()
"""


def _click_floor(work: Path) -> Path:
    """A script with a bare click group of as many commands as ``one`` has."""
    import click

    from onecore.cli import cli

    n = len(cli.list_commands(click.Context(cli)))
    script = work / "click_floor.py"
    script.write_text(_CLICK_APP.format(n=n))
    return script


def _setup(work: Path, env: dict[str, str]) -> Any:
    from onecore.testing import make_data_root
    from onecore.testing.servers import FileServer

    root = work / "root"
    make_data_root(root, subjects=3, sessions=3)
    one = _one()
    subprocess.run([*one, "add-repo", "loc", "--type", "local", "--set", f"root_dir={root}"], env=env, check=True)
    server = FileServer(root).start()
    subprocess.run([*one, "index", str(root), "--base-url", server.url], env=env, check=True, capture_output=True)
    subprocess.run(
        [*one, "add-repo", "web", "--type", "http", "--set", f"base_url={server.url}", "--no-current"],
        env=env,
        check=True,
    )
    for repo in ("loc", "web"):  # build both catalogs
        subprocess.run([*one, "search", "--repo", repo], env=env, check=True, capture_output=True)
    return server


def main(quick: bool = False) -> dict[str, Any]:
    """Run the benchmark; returns ``{"title", "rows"}`` for ``benchmarks/run.py``."""
    quick = quick or "--quick" in sys.argv or os.environ.get("ONE_BENCH_QUICK") == "1"
    repeat = int(os.environ.get("BENCH_STARTUP_REPEAT", 5 if quick else 15))
    work = Path(tempfile.mkdtemp(prefix="bench_startup_"))
    env = _env(work / "home")
    one = _one()
    try:
        server = _setup(work, env)
        floor = _click_floor(work)
        try:
            start = _best(
                {
                    "python -c pass": [sys.executable, "-c", "pass"],
                    "floor: python -c 'import click'": [sys.executable, "-c", "import click"],
                    "floor: bare click group --help": [sys.executable, str(floor), "--help"],
                    "floor: bare click group COMMAND --help": [sys.executable, str(floor), "command1", "--help"],
                    "import onecore": [sys.executable, "-c", "import onecore"],
                    "one --help": [*one, "--help"],
                    "one search --help": [*one, "search", "--help"],
                    "one --help (rendered)": [*one, "--help"],
                    "one search --help (rendered)": [*one, "search", "--help"],
                    "one search --mode local": [*one, "search", "--mode", "local", "--repo", "loc"],
                    "one search (local repository, auto)": [*one, "search", "--repo", "loc"],
                },
                env,
                repeat,
            )
        finally:
            server.stop()
        offline = _best(
            {
                "one search, server down": [*one, "search", "--repo", "web"],
                "one search --mode local (http repository)": [*one, "search", "--repo", "web", "--mode", "local"],
            },
            env,
            max(1, repeat // 3),
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    base = start["python -c pass"]
    rows: list[dict[str, Any]] = [
        {"measure": "python -c pass", "value": base * 1000, "unit": "ms"},
    ]
    for name, t in start.items():
        if name == "python -c pass":
            continue
        target = TARGETS.get(name)
        ratio = t / base
        rows.append(
            {
                "measure": name,
                "value": t * 1000,
                "unit": "ms",
                "vs": "python -c pass",
                "ratio": ratio,
                "target": f"<= {target}x" if target else None,
                "ok": (ratio <= target) if target else None,
            }
        )
    down, local = offline["one search, server down"], offline["one search --mode local (http repository)"]
    rows.append({"measure": "one search --mode local (http repository)", "value": local * 1000, "unit": "ms"})
    rows.append(
        {
            "measure": "one search, server down (connection refused)",
            "value": down * 1000,
            "unit": "ms",
            "vs": "--mode local",
            "ratio": down / local,
            "target": f"<= {TARGET_OFFLINE}x",
            "ok": down / local <= TARGET_OFFLINE,
        }
    )
    result = {"title": f"start-up and offline (best of {repeat} runs)", "rows": rows}
    if __name__ == "__main__":
        from run import render_text  # type: ignore[import-not-found]

        print(render_text("startup", result))
    return result


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    main()

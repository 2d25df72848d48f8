"""Quick-look plots: each kind on generated data gives an image of the right size with content;
missing objects give one clear error naming what is needed; `one plot` writes png/svg/pdf."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("matplotlib", reason="plots need matplotlib (pip install -e '.[test]')")

from onecore import plot  # noqa: E402

from .conftest import run_cli  # noqa: E402


def _png(fig: Any, path: Path) -> np.ndarray:
    from matplotlib.image import imread

    plot.save(fig, path)
    return imread(path)


def _non_blank(img: np.ndarray) -> float:
    """Fraction of pixels that are neither white nor transparent."""
    rgb = img[..., :3]
    return float(np.mean(rgb.min(axis=-1) < 0.9))


def _spikes(n: int, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "times": np.sort(rng.uniform(0, 600, n)),
        "depths": rng.uniform(0, 3840, n).astype(np.float32),
        "clusters": rng.integers(0, 300, n).astype(np.int32),
    }


def _wheel(n: int = 20000) -> dict[str, np.ndarray]:
    t = np.linspace(0, 300, n)
    return {"timestamps": t, "position": np.cumsum(np.sin(t / 3.0)) * 0.01}


def _trials(n: int = 300) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(1)
    stim = np.arange(n) * 5.0 + 1
    return {
        "choice": rng.choice([-1, 0, 1], n).astype(float),
        "feedbackType": rng.choice([-1, 1], n).astype(float),
        "stimOn_times": stim,
        "response_times": stim + rng.gamma(2, 0.2, n),
    }


@pytest.mark.parametrize("by", [None, "depth", "cluster"])
def test_raster_image_size_and_content(tmp_path: Path, by: str | None) -> None:
    fig = plot.raster(_spikes(50_000), by=by, figsize=(8, 3), dpi=100)
    img = _png(fig, tmp_path / "r.png")
    assert img.shape[:2] == (300, 800)
    assert _non_blank(img) > 0.05  # spikes drawn across the axes, not only labels


def test_raster_of_ten_million_spikes_is_fast(tmp_path: Path) -> None:
    spikes = _spikes(10_000_000)
    t0 = time.perf_counter()
    fig = plot.raster(spikes)
    img = _png(fig, tmp_path / "big.png")
    assert time.perf_counter() - t0 < 30  # about 1-2 s on one core; generous for a shared CI machine
    assert img.shape[:2] == (400, 1000) and _non_blank(img) > 0.2


def test_raster_time_range(tmp_path: Path) -> None:
    fig = plot.raster(_spikes(10_000), time_range=(100, 200))
    ax = fig.axes[0]
    assert ax.get_xlim() == (100.0, 200.0)
    with pytest.raises(plot.PlotError, match="empty"):
        plot.raster(_spikes(100), time_range=(5, 5))


def test_wheel_and_trials_images(tmp_path: Path) -> None:
    img = _png(plot.wheel(_wheel(), figsize=(6, 4), dpi=50), tmp_path / "w.png")
    assert img.shape[:2] == (200, 300) and _non_blank(img) > 0.02
    fig = plot.trials(_trials(), figsize=(6, 6), dpi=50)
    assert len(fig.axes) == 3  # choice, feedback, reaction times
    img = _png(fig, tmp_path / "t.png")
    assert img.shape[:2] == (300, 300) and _non_blank(img) > 0.02
    fig = plot.trials(_trials(), time_range=(0, 100))  # trials starting in the first 100 s: 20
    assert fig.axes[0].get_title(loc="left") == "20 trials"
    with pytest.raises(plot.PlotError, match="stimOn_times"):
        plot.trials({"choice": np.ones(3)}, time_range=(0, 1))


@pytest.mark.parametrize(
    "call, message",
    [
        (
            lambda: plot.raster({"amps": np.ones(3)}),
            r"spikes\.times with spikes\.depths or spikes\.clusters.*spikes\.amps",
        ),
        (lambda: plot.raster({"times": np.ones(3)}), r"needs spikes\.clusters"),
        (lambda: plot.raster({"times": np.ones(3), "depths": np.ones(2)}), "must match"),
        (lambda: plot.wheel({"position": np.ones(3)}), r"wheel\.position and wheel\.timestamps"),
        (lambda: plot.trials({"intervals": np.ones(3)}), r"trials\.choice, trials\.feedbackType"),
    ],
)
def test_missing_attributes_are_named(call: Any, message: str) -> None:
    with pytest.raises(plot.PlotError, match=message):
        call()


@pytest.fixture
def plot_repo(tmp_path: Path, runner: Any) -> Path:
    """A local repository: one session with two probes, wheel and trials; one without any."""
    root = tmp_path / "root"
    s1 = root / "lab/Subjects/M1/2023-03-03/001"
    for probe in ("probe00", "probe01"):
        d = s1 / "alf" / probe
        d.mkdir(parents=True)
        sp = _spikes(20_000, seed=len(probe))
        np.save(d / "spikes.times.npy", sp["times"])
        np.save(d / "spikes.clusters.npy", sp["clusters"])
        np.save(d / "clusters.depths.npy", np.linspace(0, 3800, 300))
    for k, v in _wheel().items():
        np.save(s1 / "alf" / f"wheel.{k}.npy", v)
    for k, v in _trials().items():
        np.save(s1 / "alf" / f"trials.{k}.npy", v)
    s2 = root / "lab/Subjects/M2/2023-03-04/001/alf"
    s2.mkdir(parents=True)
    np.save(s2 / "licks.times.npy", np.arange(5.0))
    run_cli(runner, "add-repo", "plots", "--type", "local", "--set", f"root_dir={root}")
    return root


@pytest.mark.parametrize("kind, ext", [("raster", "png"), ("wheel", "svg"), ("trials", "pdf")])
def test_one_plot_writes_each_format(runner: Any, plot_repo: Path, tmp_path: Path, kind: str, ext: str) -> None:
    out = tmp_path / f"{kind}.{ext}"
    res = run_cli(runner, "plot", "lab/Subjects/M1/2023-03-03/001", kind, "--out", out)
    assert f"Wrote {out}" in res.output
    head = out.read_bytes()[:8]
    assert head.startswith({"png": b"\x89PNG", "svg": b"<?xml", "pdf": b"%PDF"}[ext])


def test_one_plot_raster_has_a_panel_per_probe(plot_repo: Path, tmp_path: Path) -> None:
    from onecore.api import One

    with One(repo="plots") as one:
        fig = plot.session_figure(one, "lab/Subjects/M1/2023-03-03/001", "raster")
        assert [ax.get_title(loc="left").split(":")[0] for ax in fig.axes] == ["alf/probe00", "alf/probe01"]
        assert fig.axes[0].get_ylabel() == "depth (µm)"  # depths mapped from clusters.depths
        fig = plot.session_figure(one, "lab/Subjects/M1/2023-03-03/001", "raster", collection="alf/probe01")
        assert len(fig.axes) == 1
        fig = plot.session_figure(one, "lab/Subjects/M1/2023-03-03/001", "wheel", time_range=(10, 20))
        assert fig.axes[0].get_xlim()[0] >= 9


def test_one_plot_missing_object_is_one_clear_error(runner: Any, plot_repo: Path, tmp_path: Path) -> None:
    res = run_cli(runner, "plot", "lab/Subjects/M2/2023-03-04/001", "raster", "--out", tmp_path / "x.png", code=1)
    assert "Traceback" not in res.output
    assert "has no spikes object" in res.output and "spikes.times with spikes.depths" in res.output
    assert "licks" in res.output  # what the session has
    res = run_cli(runner, "plot", "lab/Subjects/M1/2023-03-03/001", "raster", "--out", tmp_path / "x.gif", code=1)
    assert "use one of .png, .svg, .pdf" in res.output
    assert not (tmp_path / "x.png").exists() and not (tmp_path / "x.gif").exists()


def test_plot_imports_no_pyplot() -> None:
    import subprocess
    import sys

    code = (
        "import sys, numpy as np; from onecore import plot; "
        "plot.raster({'times': np.arange(10.), 'clusters': np.arange(10)}); "
        "print('matplotlib.pyplot' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "False", out.stderr

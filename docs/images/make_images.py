"""Make the README's pictures: docs/images/site.png (the `one site` index in headless Chromium) and
docs/images/raster.png (`one plot SESSION raster`), from generated data in a temporary ONE_HOME.

    make docs-images        # or: .venv/bin/python docs/images/make_images.py
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
SESSION = "cortexlab/Subjects/KS023/2019-12-10/001"


def _data_root(root: Path) -> None:
    import numpy as np

    from onecore.testing import make_data_root

    make_data_root(root, labs=("cortexlab", "churchlandlab", "angelakilab"), subjects=3, sessions=3, n=300)
    rng = np.random.default_rng(7)
    probe = root / SESSION / "alf" / "probe00"
    probe.mkdir(parents=True, exist_ok=True)
    n_units, n = 250, 3_000_000
    depths = np.sort(rng.uniform(100, 3800, n_units))
    rates = rng.gamma(1.5, 4.0, n_units)
    clusters = rng.choice(n_units, n, p=rates / rates.sum())
    # slow waves of population activity, stronger in the upper half
    t = rng.uniform(0, 1200, n * 2)
    keep = rng.random(n * 2) < 0.6 + 0.4 * np.sin(t / 25.0) ** 2
    times = np.sort(t[keep][:n])
    np.save(probe / "spikes.times.npy", times)
    np.save(probe / "spikes.clusters.npy", clusters[: len(times)].astype(np.int32))
    np.save(probe / "clusters.depths.npy", depths)
    alf = root / SESSION / "alf"
    ts = np.linspace(0, 1200, 120_000)
    np.save(alf / "wheel.timestamps.npy", ts)
    np.save(alf / "wheel.position.npy", np.cumsum(rng.normal(0, 0.01, ts.size)))


def _one(*args: str, env: dict[str, str]) -> None:
    subprocess.run([sys.executable, "-m", "onecore.cli", *args], check=True, env=env)


def main() -> None:
    from onecore.site.browser import Browser, unavailable_reason

    with tempfile.TemporaryDirectory(prefix="onecore-docs-") as tmp:
        work = Path(tmp)
        env = {**os.environ, "ONE_HOME": str(work / "home")}
        _data_root(work / "root")
        _one("add-repo", "demo", "--type", "local", "--set", f"root_dir={work / 'root'}", env=env)
        _one("plot", SESSION, "raster", "--out", str(HERE / "raster.png"), env=env)
        _one("site", str(work / "site"), "--title", "Example lab data", env=env)
        reason = unavailable_reason()
        if reason:
            raise SystemExit(f"docs-images: cannot take the site screenshot: {reason}")
        with Browser(width=1100, height=640) as b:
            b.open((work / "site" / "index.html").as_uri())
            b.driver.find_element("id", "f-lab").send_keys("cortexlab")
            b.driver.save_screenshot(str(HERE / "site.png"))
    from PIL import Image  # comes with matplotlib

    for name in ("site.png", "raster.png"):
        img = Image.open(HERE / name).convert("RGB").quantize(colors=32)  # small files in git
        img.save(HERE / name, optimize=True)
        print(f"wrote docs/images/{name} ({(HERE / name).stat().st_size // 1024} kB)")


if __name__ == "__main__":
    main()

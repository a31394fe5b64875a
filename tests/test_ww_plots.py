"""``analyze(plot=True)`` of ``weightspace.weightwatcher``: WeightWatcher's figure files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("matplotlib")

ESD_FIGURES = ["esd", "esd2", "esd3", "esd4", "esd5"]


def _weights() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {
        "conv.weight": rng.standard_normal((16, 8, 3, 3)),  # rf 9: 72 eigenvalues
        "fc.weight": rng.standard_t(3.0, (120, 60)),
        "sq.weight": rng.standard_normal((40, 40)),  # Q = 1: WeightWatcher adds mpfit1
    }


def _run(code: str) -> dict[str, object]:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path), MPLBACKEND="Agg")
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    return json.loads(proc.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def _is_png(path: Path) -> bool:
    import matplotlib.image

    if path.read_bytes()[:8] != b"\x89PNG\r\n\x1a\n":
        return False
    img = matplotlib.image.imread(path)
    return img.ndim == 3 and img.shape[0] > 100 and img.shape[1] > 100 and float(img.std()) > 0


def test_plot_writes_weightwatchers_figures_and_closes_them(tmp_path: Path) -> None:
    weights = tmp_path / "w.npz"
    np.savez(weights, **_weights())
    out = tmp_path / "img"
    code = (
        "import json, sys\n"
        "import matplotlib.pyplot as plt\n"
        "import weightspace.weightwatcher as ww\n"
        f"d = ww.WeightWatcher(model={str(weights)!r}).analyze(plot=True, mp_fit=True,\n"
        f"                                                   savefig={str(out)!r})\n"
        "print(json.dumps({'rows': len(d), 'open': plt.get_fignums(),\n"
        "                  'torch': 'torch' in sys.modules}))\n"
    )
    seen = _run(code)
    assert seen == {"rows": 3, "open": [], "torch": False}
    ids = {"conv": 1, "fc": 2, "sq": 3}  # a weights file: ids from 1, in file order
    expected = {f"ww.layer{i}.{f}.png" for i in ids.values() for f in [*ESD_FIGURES, "mpfit2"]}
    expected.add(f"ww.layer{ids['sq']}.mpfit1.png")
    assert {p.name for p in out.iterdir()} == expected
    assert all(_is_png(p) for p in out.iterdir())


def test_plot_with_randomize_and_savefig_true_uses_ww_img(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    import weightspace.weightwatcher as ww

    monkeypatch.chdir(tmp_path)
    sd = {"fc.weight": _weights()["fc.weight"]}
    ww.WeightWatcher(model=sd).analyze(plot=True, randomize=True, savefig=True)
    names = {p.name for p in (tmp_path / "ww-img").iterdir()}
    assert names == {f"ww.layer1.{f}.png" for f in [*ESD_FIGURES, "randesd1", "randesd2", "mpfit2"]}
    assert plt.get_fignums() == []
    ww.WeightWatcher(model=sd).analyze(plot=True, savefig=False)  # shown, not saved
    assert len(list((tmp_path / "ww-img").iterdir())) == len(names)
    assert plt.get_fignums() == []


def test_cli_analyze_loads_neither_torch_nor_matplotlib(tmp_path: Path) -> None:
    from safetensors.numpy import save_file

    save_file({"fc.weight": _weights()["fc.weight"].astype(np.float32)},
              str(tmp_path / "m.safetensors"))  # fmt: skip
    code = (
        "import json, sys\n"
        "from weightspace.cli import main\n"
        "try:\n"
        f"    main(['analyze', {str(tmp_path / 'm.safetensors')!r}, '-q', '--threads', '1'])\n"
        "except SystemExit as e:\n"
        "    assert not e.code, e.code\n"
        "print(json.dumps({'torch': 'torch' in sys.modules,\n"
        "                  'matplotlib': 'matplotlib' in sys.modules}))\n"
    )
    assert _run(code) == {"torch": False, "matplotlib": False}

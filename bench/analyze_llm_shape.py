"""weightspace vs WeightWatcher 0.7.7 on a Llama-7B-shaped sharded safetensors checkpoint.

Writes ``--blocks`` transformer blocks of Llama-7B's shapes (hidden 4096: q/k/v/o 4096×4096;
FFN 11008: gate/up 11008×4096, down 4096×11008; bf16; one shard per block, Hugging Face
layout with ``model.safetensors.index.json``) to a temporary directory, then analyses the
same files with each tool in a fresh interpreter (so peak resident memory is per tool) and
prints: time per matrix, total time, peak RSS, the time extrapolated to 32 blocks, the
speed-up, and the largest |alpha difference| (weightspace in compat="ww" mode).

Threading is each tool's out of the box: weightspace analyses as many layers at once as
there are usable cores (``$WEIGHTSPACE_THREADS`` if set), each with single-threaded BLAS;
WeightWatcher runs one layer at a time with multi-threaded BLAS. ``--threads 1`` pins both
to one thread (and weightspace to one worker).

    .venv/bin/python bench/analyze_llm_shape.py --quick        # hidden 1024, 1 block, ~1 min
    .venv/bin/python bench/analyze_llm_shape.py                # 2 Llama-7B blocks, ~10 min
    .venv/bin/python bench/analyze_llm_shape.py --tools weightspace --threads 1
    .venv/bin/python bench/analyze_llm_shape.py --device cuda --tools weightspace
    .venv/bin/python bench/analyze_llm_shape.py --blocks 1 --tools weightspace --threads 1 \
        --only '*down_proj'          # peak memory of the largest matrix, one worker
    .venv/bin/python bench/analyze_llm_shape.py --blocks 1 --tools weightspace --threads 1 \
        --floor --cli                # + the float64 floor and the CLI's own peak memory

``--floor`` adds the bare float64 floor on the same matrices, in a fresh interpreter with the
same threads: each matrix read and widened to float64 (not timed), then only the Gram matrix
WᵀW (BLAS ``dsyrk``) and its eigenvalues (the eigensolver weightspace picks, see
``spectral/eigensolver.py``) are timed; it prints weightspace's time over that floor.
``--cli`` runs ``weightspace analyze DIR --compat ww`` itself under ``/usr/bin/time -v``
(peak resident memory of the whole command, as a user sees it) and says whether torch
was imported.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

PROJ = ("q_proj", "k_proj", "v_proj", "o_proj")
MLP = ("gate_proj", "up_proj", "down_proj")


def write_checkpoint(root: Path, *, blocks: int, hidden: int, ffn: int, seed: int = 0) -> int:
    """Sharded bf16 safetensors of ``blocks`` Llama blocks; returns the number of matrices."""
    import torch
    from safetensors.torch import save_file

    gen = torch.Generator().manual_seed(seed)
    weight_map: dict[str, str] = {}
    count = 0
    for b in range(blocks):
        shard = f"model-{b + 1:05d}-of-{blocks:05d}.safetensors"
        pre = f"model.layers.{b}"
        tensors: dict[str, Any] = {}
        for name in PROJ:
            tensors[f"{pre}.self_attn.{name}.weight"] = (hidden, hidden)
        tensors[f"{pre}.mlp.gate_proj.weight"] = (ffn, hidden)
        tensors[f"{pre}.mlp.up_proj.weight"] = (ffn, hidden)
        tensors[f"{pre}.mlp.down_proj.weight"] = (hidden, ffn)
        out: dict[str, Any] = {}
        for key, shape in tensors.items():
            w = torch.randn(shape, generator=gen, dtype=torch.float32) / shape[1] ** 0.5
            out[key] = w.to(torch.bfloat16)
            count += 1
        out[f"{pre}.input_layernorm.weight"] = torch.ones(hidden, dtype=torch.bfloat16)
        save_file(out, str(root / shard))
        weight_map.update(dict.fromkeys(out, shard))
        del out
    index = {"metadata": {}, "weight_map": weight_map}
    (root / "model.safetensors.index.json").write_text(json.dumps(index))
    return count


def _peak_rss_gb() -> float:
    """This process's peak resident set (VmHWM), in GB.

    Not ``ru_maxrss``: on Linux a child started by fork/exec inherits its parent's maximum
    there, so it would report the writer's (torch-loaded) peak instead of the tool's.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024**2  # kB
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2  # Linux: KiB


def child_weightspace(
    path: str, threads: int, device: str, precision: str, only: str = ""
) -> dict[str, Any]:
    from weightspace.spectral import analyze
    from weightspace.spectral.eigensolver import solver
    from weightspace.threads import current_threads, set_threads

    if threads:
        set_threads(threads)
    done: list[tuple[float, str]] = []
    t0 = time.perf_counter()

    def progress(i: int, total: int, name: str) -> None:
        done.append((time.perf_counter() - t0, name))
        print(f"  weightspace {i}/{total} {name} {done[-1][0]:.1f}s", file=sys.stderr, flush=True)

    df = analyze(
        path,
        compat="ww",
        device=device,
        precision=precision,
        progress=progress,
        layers=[only] if only else None,
    )
    total = time.perf_counter() - t0
    ok = df[df.status == "success"]
    return {
        "tool": "weightspace",
        "threads": current_threads(),
        "eigensolver": solver(),
        "torch_loaded": "torch" in sys.modules,  # reading safetensors never imports torch
        "total_s": total,
        "per_matrix_s": [t - (done[i - 1][0] if i else 0.0) for i, (t, _) in enumerate(done)],
        "names": list(ok.longname),
        "alpha": [float(a) for a in ok.alpha],
        "peak_rss_gb": _peak_rss_gb(),
    }


def child_floor(path: str, threads: int) -> dict[str, Any]:
    """Gram matrix + eigensolver only, float64, on every 2-D tensor of ``path``."""
    import numpy as np
    from scipy.linalg.blas import dsyrk

    from weightspace.spectral.eigensolver import eigvalsh, solver
    from weightspace.spectral.load import open_store
    from weightspace.threads import set_threads

    set_threads(threads or None)
    store = open_store(path)
    per: list[float] = []
    for name in store.names():
        w = np.asarray(store.read(name), dtype=np.float64)
        if w.ndim != 2:
            continue
        if w.shape[0] < w.shape[1]:
            w = w.T  # WᵀW of the N×M orientation (N ≥ M): M eigenvalues
        w = np.asfortranarray(w)
        t = time.perf_counter()
        g = dsyrk(1.0, w, trans=1, lower=1)  # the lower triangle of WᵀW
        eigvalsh(g, lower=True)
        per.append(time.perf_counter() - t)
        del w, g
    return {"tool": "floor", "total_s": sum(per), "per_matrix_s": per, "eigensolver": solver(),
            "names": [], "alpha": [], "peak_rss_gb": _peak_rss_gb()}  # fmt: skip


def run_cli(path: Path, threads: int) -> dict[str, Any]:
    """``weightspace analyze`` under ``/usr/bin/time -v``: wall time and peak RSS."""
    code = (
        "import sys; from weightspace.cli import main\n"
        "try:\n    main(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
        "print('TORCH_LOADED', 'torch' in sys.modules, file=sys.stderr)"
    )
    cmd = ["/usr/bin/time", "-v", sys.executable, "-c", code, "analyze", str(path), "-q"]
    cmd += ["--compat", "ww"] + (["--threads", str(threads)] if threads else [])
    t = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, check=True)
    wall = time.perf_counter() - t
    rss_kb = next(int(x.split()[-1]) for x in proc.stderr.splitlines() if "Maximum resident" in x)
    return {"total_s": wall, "peak_rss_gb": rss_kb / 1024**2,
            "torch_loaded": "TORCH_LOADED True" in proc.stderr}  # fmt: skip


def child_weightwatcher(path: str, threads: int) -> dict[str, Any]:
    import logging
    import warnings

    warnings.simplefilter("ignore")
    if threads:
        from threadpoolctl import threadpool_limits

        threadpool_limits(threads)
        import torch

        torch.set_num_threads(threads)
    import weightwatcher as ww

    logging.getLogger("weightwatcher").setLevel(logging.ERROR)
    times: list[float] = []
    orig = ww.WeightWatcher.apply_esd
    t0 = time.perf_counter()

    def timed(self: Any, layer: Any, params: Any = None) -> Any:
        start = time.perf_counter()
        out = orig(self, layer, params)
        times.append(time.perf_counter() - start)
        print(f"  weightwatcher {len(times)} {layer.name} {time.perf_counter() - t0:.1f}s",
              file=sys.stderr, flush=True)  # fmt: skip
        return out

    ww.WeightWatcher.apply_esd = timed  # type: ignore[method-assign]
    df = ww.WeightWatcher(model=path).analyze()
    total = time.perf_counter() - t0
    return {
        "tool": "weightwatcher",
        "total_s": total,
        "per_matrix_s": times,  # the SVD step only; fits and metrics add little
        "names": [str(n) for n in df.name],
        "alpha": [float(a) for a in df.alpha],
        "peak_rss_gb": _peak_rss_gb(),
    }


def run_child(tool: str, path: Path, args: argparse.Namespace) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--child", tool, "--dir", str(path)]
    cmd += ["--threads", str(args.threads), "--device", args.device, "--precision", args.precision]
    cmd += ["--only", args.only] if args.only else []
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--blocks", type=int, default=2)
    p.add_argument("--hidden", type=int, default=4096)
    p.add_argument("--ffn", type=int, default=11008)
    p.add_argument("--quick", action="store_true", help="1 block, hidden 1024, FFN 2752")
    p.add_argument("--tools", choices=["both", "weightspace", "weightwatcher"], default="both")
    p.add_argument("--threads", type=int, default=0, help="0: each tool's default")
    p.add_argument("--device", default="cpu")
    p.add_argument("--precision", choices=["float64", "float32"], default="float64")
    p.add_argument("--dir", default="")
    p.add_argument("--child", default="")
    p.add_argument(
        "--only", default="", help="weightspace only: analyse the layers matching this glob"
    )
    p.add_argument("--floor", action="store_true", help="add the float64 Gram+eigensolver floor")
    p.add_argument("--cli", action="store_true", help="add `weightspace analyze` under time -v")
    args = p.parse_args()
    if args.child:
        if args.child == "weightspace":
            res = child_weightspace(args.dir, args.threads, args.device, args.precision, args.only)
        elif args.child == "floor":
            res = child_floor(args.dir, args.threads)
        else:
            res = child_weightwatcher(args.dir, args.threads)
        print(json.dumps(res))
        return
    if args.quick:
        args.blocks, args.hidden, args.ffn = 1, 1024, 2752
    with tempfile.TemporaryDirectory(prefix="llm_shape_") as tmp:
        root = Path(tmp)
        t = time.perf_counter()
        n = write_checkpoint(root, blocks=args.blocks, hidden=args.hidden, ffn=args.ffn)
        size = sum(f.stat().st_size for f in root.iterdir()) / 1e9
        print(f"wrote {n} matrices ({args.blocks} blocks, hidden {args.hidden}, FFN {args.ffn}, "
              f"bf16, {size:.2f} GB) in {time.perf_counter() - t:.0f}s; "
              f"machine: {os.cpu_count()} CPUs", flush=True)  # fmt: skip
        tools = ["weightspace", "weightwatcher"] if args.tools == "both" else [args.tools]
        results = {tool: run_child(tool, root, args) for tool in tools}
        floor = run_child("floor", root, args) if args.floor else None
        cli = run_cli(root, args.threads) if args.cli else None
    for tool, r in results.items():
        per = r["per_matrix_s"]
        print(f"{tool:>13}: total {r['total_s']:.1f}s, per matrix {sum(per) / max(len(per), 1):.2f}s "
              f"(max {max(per, default=0):.2f}s), peak RSS {r['peak_rss_gb']:.2f} GB, "
              f"32 blocks ≈ {r['total_s'] * 32 / args.blocks / 60:.1f} min"
              + (f", torch loaded: {r['torch_loaded']}" if "torch_loaded" in r else "")
              + (f", eigensolver {r['eigensolver']}" if "eigensolver" in r else ""))  # fmt: skip
    if floor is not None:
        print(f"        floor: Gram + {floor['eigensolver']} eigensolver, float64, "
              f"{floor['total_s']:.1f}s over {len(floor['per_matrix_s'])} matrices")  # fmt: skip
        if "weightspace" in results:
            ws = results["weightspace"]["total_s"]
            print(f"weightspace / floor = {ws / floor['total_s']:.2f}x "
                  "(1.00x = nothing but the Gram product and the eigensolver)")  # fmt: skip
    if cli is not None:
        print(f"  weightspace analyze (CLI): {cli['total_s']:.1f}s wall, peak RSS "
              f"{cli['peak_rss_gb']:.2f} GB (/usr/bin/time -v), torch loaded: "
              f"{cli['torch_loaded']}")  # fmt: skip
    if len(results) == 2:
        a, b = results["weightspace"], results["weightwatcher"]
        print(
            f"speed-up {b['total_s'] / a['total_s']:.2f}x, memory {b['peak_rss_gb'] / a['peak_rss_gb']:.2f}x"
        )
        if len(a["alpha"]) == len(b["alpha"]):
            diff = max(abs(x - y) for x, y in zip(a["alpha"], b["alpha"], strict=True))
            print(
                f"max |alpha_ww - alpha_weightspace| = {diff:.2e} over {len(a['alpha'])} matrices"
            )


if __name__ == "__main__":
    main()

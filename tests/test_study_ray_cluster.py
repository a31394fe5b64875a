"""`weightspace study --runner ray --address` against a real two-process Ray cluster.

A head node runs in its own process (`ray start --head --block` on loopback, its own temp
dir, token authentication on, as a secured cluster runs), and the study CLI runs in another
process that has the token but not ``RAY_AUTH_MODE``: the runner must turn token mode on
itself. An address nobody listens at fails at once, in one line, with exit code 2.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from image_fixtures import needs_fashion

pytestmark = pytest.mark.ray

CLI = [sys.executable, "-c", "import sys; from weightspace.cli import main; sys.exit(main())"]
STARTUP_S = 120  # a head node starts in ~10 s on an idle 2-core machine

TINY = """
[study]
name = "tiny-ray"
seeds = [0]

[data]
dataset = "fashion-mnist"
train_size = 200
test_size = 100
ood = false

[model]
name = "mlp"

[train]
epochs = 1
batch_size = 50

[conditions]
baseline = true
dropout = [0.3]
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _ray_binary() -> str:
    pytest.importorskip("ray")
    beside = Path(sys.executable).with_name("ray")
    found = str(beside) if beside.is_file() else shutil.which("ray")
    if found is None:
        pytest.skip("the `ray` command is not installed")
    return found


def _env(**changes: str | None) -> dict[str, str]:
    """This process's environment (PYTHONPATH kept) with ``changes``; None removes a name."""
    env = dict(os.environ, RAY_USAGE_STATS_ENABLED="0", WEIGHTSPACE_THREADS="1")
    for key, value in changes.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


def _stop(head: subprocess.Popen[str], temp_dir: str) -> None:
    """SIGTERM to `ray start --block` stops the processes it started; any left over (they
    name the head's temp dir) are ended by pid."""
    head.send_signal(signal.SIGTERM)
    try:
        head.wait(timeout=60)
    except subprocess.TimeoutExpired:
        head.kill()
    found = subprocess.run(["pgrep", "-f", temp_dir], capture_output=True, text=True).stdout
    for pid in (int(p) for p in found.split() if int(p) != os.getpid()):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


@pytest.fixture(scope="module")
def ray_head() -> Iterator[tuple[str, str]]:
    """(address, token) of a head node on loopback with token authentication."""
    ray = _ray_binary()
    token = secrets.token_hex(16)
    port = _free_port()
    temp_dir = tempfile.mkdtemp(prefix="wsray", dir="/tmp")  # short: Ray's socket paths
    head = subprocess.Popen(
        [ray, "start", "--head", "--block", "--node-ip-address=127.0.0.1", f"--port={port}",
         "--num-cpus=2", "--include-dashboard=false", f"--temp-dir={temp_dir}",
         "--disable-usage-stats"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env=_env(RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=token),
    )  # fmt: skip
    ready = threading.Event()
    lines: list[str] = []

    def watch() -> None:
        assert head.stdout is not None
        for line in head.stdout:
            lines.append(line)
            if "Ray runtime started" in line:
                ready.set()

    threading.Thread(target=watch, daemon=True).start()
    try:
        if not ready.wait(STARTUP_S):
            pytest.fail("the Ray head did not start:\n" + "".join(lines[-30:]))
        yield f"127.0.0.1:{port}", token
    finally:
        _stop(head, temp_dir)
        shutil.rmtree(temp_dir, ignore_errors=True)


@needs_fashion
def test_a_study_runs_on_a_cluster_with_token_authentication(ray_head, tmp_path):
    address, token = ray_head
    spec = tmp_path / "tiny.toml"
    spec.write_text(TINY)
    out = tmp_path / "study"
    done = subprocess.run(
        [*CLI, "study", str(spec), "--runner", "ray", "--address", address, "--out", str(out),
         "--workers", "2", "--threads", "1", "--no-report", "--quiet"],
        capture_output=True, text=True, timeout=600,
        env=_env(RAY_AUTH_MODE=None, RAY_AUTH_TOKEN=token, HOME=str(tmp_path)),
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "2/2 runs done" in done.stdout
    runs = pd.read_parquet(out / "runs.parquet")
    assert sorted(runs["condition"]) == ["bs", "dp0.3"] and (runs["status"] == "done").all()
    assert (runs["test_acc"] > 0.1).all()  # trained, not a placeholder
    layers = pd.read_parquet(out / "layers.parquet")
    assert set(layers["snapshot"]) == {"before", "after"} and layers["alpha"].notna().any()


def test_a_cluster_refusing_the_driver_says_how_to_give_it_the_token(ray_head, tmp_path):
    address, _ = ray_head
    spec = tmp_path / "tiny.toml"
    spec.write_text(TINY)
    done = subprocess.run(
        [*CLI, "study", str(spec), "--runner", "ray", "--address", address,
         "--out", str(tmp_path / "study"), "--no-report", "--quiet"],
        capture_output=True, text=True, timeout=300,
        env=_env(RAY_AUTH_MODE=None, RAY_AUTH_TOKEN=None, RAY_AUTH_TOKEN_PATH=None,
                 HOME=str(tmp_path)),  # no token anywhere, not even ~/.ray/auth_token
    )  # fmt: skip
    assert done.returncode == 2, done.stdout + done.stderr
    message = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(message) == 1 and "RAY_AUTH_TOKEN" in message[0], done.stderr
    assert "Traceback" not in done.stderr


def test_an_unreachable_address_fails_at_once_in_one_line(tmp_path):
    spec = tmp_path / "tiny.toml"
    spec.write_text(TINY)
    address = f"127.0.0.1:{_free_port()}"  # nothing listens there
    done = subprocess.run(
        [*CLI, "study", str(spec), "--runner", "ray", "--address", address,
         "--out", str(tmp_path / "study")],
        capture_output=True, text=True, timeout=120, env=_env(),
    )  # fmt: skip
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.strip().splitlines() == [
        f"error: no Ray cluster answers at {address} (Connection refused within 3 s); start "
        "its head there (`ray start --head --port PORT`) or give the address it printed"
    ]
    # the only output: Ray was never asked to connect (it would log its ~20 s of retries)
    assert not (tmp_path / "study").exists()  # failed before anything was written

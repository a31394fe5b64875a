"""Hessian trace (Hutchinson) and top eigenvalue (power iteration) against exact Hessians."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from weightspace.errors import ConfigError
from weightspace.train.sharpness import hessian_trace, hvp, top_hessian_eigenvalue


def _mlp() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(3, 5), nn.Tanh(), nn.Linear(5, 3)).double()


def _batches() -> list[tuple[torch.Tensor, torch.Tensor]]:
    g = torch.Generator().manual_seed(1)
    return [
        (
            torch.randn(8, 3, generator=g, dtype=torch.float64),
            torch.randint(0, 3, (8,), generator=g),
        )
        for _ in range(2)
    ]


def _ce(model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
    x, y = batch
    return F.cross_entropy(model(x), y)


def _exact_hessian(model: nn.Module, batches: list) -> torch.Tensor:
    names = [n for n, _ in model.named_parameters()]
    shapes = [p.shape for p in model.parameters()]
    flat0 = torch.cat([p.detach().reshape(-1) for p in model.parameters()])

    def loss(flat: torch.Tensor) -> torch.Tensor:
        parts, i = {}, 0
        for n, s in zip(names, shapes, strict=True):
            k = math.prod(s)
            parts[n] = flat[i : i + k].reshape(s)
            i += k
        total = sum(
            F.cross_entropy(torch.func.functional_call(model, parts, (x,)), y) for x, y in batches
        )
        return total / len(batches)

    return torch.autograd.functional.hessian(loss, flat0)


class _Quadratic(nn.Module):
    """loss = ½ wᵀ A w: its Hessian is A everywhere."""

    def __init__(self, a: torch.Tensor) -> None:
        super().__init__()
        self.a = a
        self.w = nn.Parameter(torch.ones(a.shape[0], dtype=a.dtype))


def _quad_loss(model: nn.Module, batch: object) -> torch.Tensor:
    return 0.5 * model.w @ model.a @ model.w


def _spd(eigs: list[float]) -> torch.Tensor:
    g = torch.Generator().manual_seed(3)
    q, _ = torch.linalg.qr(torch.randn(len(eigs), len(eigs), generator=g, dtype=torch.float64))
    return q @ torch.diag(torch.tensor(eigs, dtype=torch.float64)) @ q.T


def test_hvp_equals_exact_hessian_times_vector() -> None:
    model, batches = _mlp(), _batches()
    h = _exact_hessian(model, batches)
    g = torch.Generator().manual_seed(5)
    v = [torch.randn(p.shape, generator=g, dtype=p.dtype) for p in model.parameters()]
    got = torch.cat([t.reshape(-1) for t in hvp(model, _ce, batches, v)])
    want = h @ torch.cat([t.reshape(-1) for t in v])
    torch.testing.assert_close(got, want, rtol=1e-9, atol=1e-12)


def test_trace_matches_exact_within_its_standard_error() -> None:
    model, batches = _mlp(), _batches()
    exact = float(torch.trace(_exact_hessian(model, batches)))
    est, se = hessian_trace(model, _ce, batches, n_probes=400, seed=0)
    assert 0 < se < 0.2 * abs(exact)  # the estimate is informative
    assert abs(est - exact) <= 4 * se, (est, se, exact)


def test_trace_is_exact_for_a_diagonal_hessian() -> None:
    # Rademacher probes: vᵀDv = tr(D) for every v, so the standard error is zero
    model = _Quadratic(torch.diag(torch.tensor([3.0, -1.0, 0.5, 2.0], dtype=torch.float64)))
    est, se = hessian_trace(model, _quad_loss, [None], n_probes=5, seed=0)
    assert est == pytest.approx(4.5, abs=1e-12) and se == pytest.approx(0.0, abs=1e-12)


def test_trace_of_a_dense_quadratic_within_se() -> None:
    a = _spd([5.0, 2.0, 1.0, 0.5, 0.1, -0.3])
    est, se = hessian_trace(_Quadratic(a), _quad_loss, [None], n_probes=300, seed=2)
    assert se > 0 and abs(est - float(torch.trace(a))) <= 4 * se


def test_power_iteration_on_a_known_quadratic() -> None:
    a = _spd([5.0, 2.0, 1.0, 0.5, 0.1, -0.3])
    top = top_hessian_eigenvalue(_Quadratic(a), _quad_loss, [None], max_iter=500, tol=1e-10)
    assert top == pytest.approx(5.0, rel=1e-6)
    # the largest magnitude wins, whatever its sign
    b = _spd([-4.0, 1.0, 0.5])
    top_b = top_hessian_eigenvalue(_Quadratic(b), _quad_loss, [None], max_iter=500, tol=1e-10)
    assert top_b == pytest.approx(-4.0, rel=1e-6)


def test_power_iteration_matches_the_exact_top_eigenvalue_of_an_mlp() -> None:
    model, batches = _mlp(), _batches()
    eigs = torch.linalg.eigvalsh(_exact_hessian(model, batches))
    want = float(eigs[eigs.abs().argmax()])
    got = top_hessian_eigenvalue(model, _ce, batches, max_iter=1000, tol=1e-10)
    assert got == pytest.approx(want, rel=1e-5)


def test_deterministic_per_seed_and_restores_training_mode() -> None:
    model, batches = _mlp(), _batches()
    model.train()
    a = hessian_trace(model, _ce, batches, n_probes=20, seed=7)
    b = hessian_trace(model, _ce, batches, n_probes=20, seed=7)
    c = hessian_trace(model, _ce, batches, n_probes=20, seed=8)
    assert a == b and a != c
    assert model.training
    e1 = top_hessian_eigenvalue(model, _ce, batches, max_iter=5, seed=1)
    e2 = top_hessian_eigenvalue(model, _ce, batches, max_iter=5, seed=1)
    assert e1 == e2


def test_evaluated_in_eval_mode() -> None:
    # with dropout active the loss would be random; in eval mode it is the same every time
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 5), nn.Tanh(), nn.Dropout(0.5), nn.Linear(5, 3)).double()
    batches = _batches()
    torch.manual_seed(1)
    a = hessian_trace(model, _ce, batches, n_probes=10, seed=0)
    torch.manual_seed(2)
    b = hessian_trace(model, _ce, batches, n_probes=10, seed=0)
    assert a == b


def test_bad_arguments_are_config_errors() -> None:
    model, batches = _mlp(), _batches()
    with pytest.raises(ConfigError, match="n_probes"):
        hessian_trace(model, _ce, batches, n_probes=0)
    with pytest.raises(ConfigError, match="batches is empty"):
        hessian_trace(model, _ce, [], n_probes=3)
    with pytest.raises(ConfigError, match="scalar"):
        hessian_trace(model, lambda m, b: m(b[0]), batches, n_probes=3)


@pytest.mark.oracle
@pytest.mark.filterwarnings("ignore:Using backward\\(\\) with create_graph")
def test_pyhessian_parity() -> None:
    pyhessian = pytest.importorskip("pyhessian")
    model = _mlp()
    x, y = _batches()[0]
    ref = pyhessian.hessian(model, nn.CrossEntropyLoss(), data=(x, y), cuda=False)
    top_ref = ref.eigenvalues(maxIter=1000, tol=1e-10)[0][0]
    top = top_hessian_eigenvalue(model, _ce, [(x, y)], max_iter=1000, tol=1e-10)
    assert top == pytest.approx(top_ref, rel=1e-5)
    torch.manual_seed(0)
    probes = torch.tensor(ref.trace(maxIter=400, tol=0.0), dtype=torch.float64)
    est, se = hessian_trace(model, _ce, [(x, y)], n_probes=400, seed=0)
    se_ref = float(probes.std() / math.sqrt(len(probes)))
    assert abs(est - float(probes.mean())) <= 4 * math.hypot(se, se_ref)

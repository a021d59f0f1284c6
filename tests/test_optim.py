"""genzoo.optim: the config's optimiser, fused where torch has a fused kernel and the config left the choice open."""

from functools import partial

import torch

from genzoo.optim import build_optimizer


def _net():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(5, 4), torch.nn.Tanh(), torch.nn.Linear(4, 3))


def _steps(opt_partial, n=5):
    net = _net()
    opt = build_optimizer(opt_partial, net.parameters())
    x = torch.randn(8, 5, generator=torch.Generator().manual_seed(1))
    for _ in range(n):
        opt.zero_grad()
        net(x).square().mean().backward()
        opt.step()
    return opt, torch.cat([p.detach().flatten() for p in net.parameters()])


def test_adam_is_fused_when_the_config_leaves_the_choice_open_and_takes_the_same_steps():
    fused_opt, fused = _steps(partial(torch.optim.Adam, lr=1e-2))
    loop_opt, loop = _steps(partial(torch.optim.Adam, lr=1e-2, foreach=True))
    assert fused_opt.param_groups[0]["fused"] is True
    assert not loop_opt.param_groups[0]["fused"]  # the config chose an implementation: kept
    # the same update rule: five Adam steps agree to float rounding, and moved the weights
    assert torch.allclose(fused, loop, atol=1e-6)
    assert not torch.allclose(fused, torch.cat([p.detach().flatten() for p in _net().parameters()]))


def test_a_chosen_implementation_or_an_optimiser_without_a_fused_kernel_is_left_as_configured():
    assert not _steps(partial(torch.optim.Adam, lr=1e-2, fused=False), 1)[0].param_groups[0]["fused"]
    rms, _ = _steps(partial(torch.optim.RMSprop, lr=1e-3), 1)  # no fused RMSprop in torch: built as configured
    assert "fused" not in rms.param_groups[0] or not rms.param_groups[0]["fused"]


def test_parameter_groups_and_double_precision_parameters_are_fused_too():
    net = _net()
    groups = [{"params": [net[0].weight]}, {"params": [net[0].bias, net[2].weight, net[2].bias], "lr": 1e-3}]
    assert build_optimizer(partial(torch.optim.Adam, lr=1e-2), groups).param_groups[1]["fused"] is True
    double = torch.nn.Parameter(torch.zeros(3, dtype=torch.float64))
    assert build_optimizer(partial(torch.optim.SGD, lr=0.1), [double]).param_groups[0]["fused"] is True


def test_the_fused_step_benchmark_times_both_paths(capsys, monkeypatch):
    """benchmarks/bench_optim.py (the docs' fused-Adam figure) runs and reports a ratio of the two paths."""
    import runpy
    import sys

    from conftest import ROOT

    monkeypatch.setattr(sys, "argv", ["bench_optim.py", "--steps", "3", "--repeats", "1"])
    runpy.run_path(str(ROOT / "benchmarks" / "bench_optim.py"), run_name="__main__")
    out = capsys.readouterr().out
    assert "repeat 0: foreach" in out and "median fused / foreach step time over 1 repeats" in out

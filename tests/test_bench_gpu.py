"""benchmarks/bench_gpu.py --device cpu --quick, in this process (issue 35): the one-shot GPU benchmark's code
paths on tiny nets, and the JSON it writes (every field, ratios and rates positive finite numbers; no
GPU figure: on the CPU the fraction of the bf16 peak is null)."""

from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def bench_main():
    spec = importlib.util.spec_from_file_location("bench_gpu", ROOT / "benchmarks" / "bench_gpu.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def positive_finite(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) and x > 0


def check(result: dict, written: Path, recipes: list[str], configs: list[str]) -> None:
    assert json.loads(written.read_text()) == json.loads(json.dumps(result))
    assert result["device_type"] == "cpu" and result["quick"] is True and result["peak_bf16_flops"] is None
    assert set(result["recipes"]) == set(recipes)
    for recipe, r in result["recipes"].items():
        assert r["shape"] == {"wgan_gp_cifar10": [3, 32, 32], "dcgan_celeba": [3, 64, 64]}[recipe]
        assert positive_finite(r["flops_per_generator_step"])
        assert [run["config"] for run in r["runs"]] == configs
        for run in r["runs"]:
            for key in ("genzoo_steps_per_s", "plain_steps_per_s", "ratio", "projected_100k_hours", "wall_s"):
                assert positive_finite(run[key]), (recipe, run["config"], key, run[key])
            assert run["ratio"] == pytest.approx(run["plain_steps_per_s"] / run["genzoo_steps_per_s"])
            assert run["projected_100k_hours"] == pytest.approx(1e5 / run["genzoo_steps_per_s"] / 3600)
            assert len(run["genzoo_block_s_per_step"]) == len(run["plain_block_s_per_step"]) == result["blocks"]
            assert run["fraction_of_bf16_peak"] is None  # no peak for a CPU: never a made-up figure
            expected = {o: run["config"] in (o, "all") for o in ("on_device", "bf16", "channels_last", "compile")}
            expected["on_device"] &= not any("data.on_device" in note for note in result["notes"])  # key missing: skipped
            assert run["options"] == expected
            assert run["n_critic"] == (5 if recipe == "wgan_gp_cifar10" else 1)
            assert run["params"]["generator"] > 0 and run["params"]["discriminator"] > 0
    inception = result["inception"]
    assert inception["images_per_s"] is None and inception["note"] or positive_finite(inception["images_per_s"])


def test_quick_cpu_run_writes_the_fields(tmp_path):
    """Both recipes, the baseline configuration (about 10 s on 2 shared cores: two short Trainer runs and the
    Inception on one image); the full tier runs every configuration (compile's take tens of seconds here)."""
    out = tmp_path / "bench.json"
    configs = ["baseline"]
    result = bench_main().main(["--device", "cpu", "--quick", "--configs", *configs, "--out", str(out)])
    check(result, out, ["wgan_gp_cifar10", "dcgan_celeba"], configs)


@pytest.mark.full  # every configuration: 12 short Trainer runs, 4 of them compiled (about 2-4 minutes on 2 cores)
def test_full_quick_cpu_run(tmp_path):
    out = tmp_path / "bench.json"
    module = bench_main()
    result = module.main(["--device", "cpu", "--quick", "--out", str(out)])
    configs = [c for c in module.CONFIGS if c != "on_device" or module.on_device_supported()]
    check(result, out, list(module.RECIPES), configs)

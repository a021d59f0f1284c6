"""genzoo.reports and compare.py on run folders written by hand: which jobs are found and in what order,
a resumed run's CSV, mean ± std over seeds computed by hand, a report run on a tiny synthetic sweep, and
comparison plots that show a configuration logged at one step (issue 34: axes and a legend, no point)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from conftest import ROOT, cli_env
from genzoo.errors import ConfigError
from genzoo.reports.runs import final_metrics, metric_series, sweep_jobs


def job(folder: Path, overrides: list[str], rows: list[dict] | None = None) -> Path:
    """A run folder as Hydra and the CSV logger leave it: ``.hydra/overrides.yaml`` and ``csv/metrics.csv``."""
    (folder / ".hydra").mkdir(parents=True)
    (folder / ".hydra" / "overrides.yaml").write_text("".join(f"- {o}\n" for o in overrides))
    if rows is not None:
        keys = list(dict.fromkeys(k for r in rows for k in r))
        (folder / "csv").mkdir()
        (folder / "csv" / "metrics.csv").write_text(
            ",".join(keys) + "\n" + "".join(",".join(str(r.get(k, "")) for k in keys) + "\n" for r in rows))
    return folder


def test_sweep_jobs_finds_every_job_in_numeric_order(tmp_path):
    sweep = tmp_path / "multirun"
    for n in ("10", "2", "0"):
        job(sweep / n, [f"seed={n}"])
    job(sweep / "10" / "nested_copy", ["seed=99"])  # inside a job: not another job of the sweep
    (sweep / "comparison").mkdir()                   # compare's output: no job
    assert sweep_jobs([sweep]) == [sweep / "0", sweep / "2", sweep / "10"]
    assert sweep_jobs([sweep / "2"]) == [sweep / "2"]  # a run folder is itself
    job(tmp_path / "other" / "t1" / "0", [])          # several multiruns under one folder
    job(tmp_path / "other" / "t2" / "0", [])
    assert sweep_jobs([tmp_path / "other"]) == [tmp_path / "other" / "t1" / "0", tmp_path / "other" / "t2" / "0"]
    with pytest.raises(ConfigError, match="no_sweep is not a folder"):
        sweep_jobs([tmp_path / "no_sweep"])


def test_a_resumed_runs_csv_keeps_the_last_value_of_each_step(tmp_path):
    rows = [{"epoch": 0, "model_step": s, "loss/d": s} for s in (1, 2, 3)]
    rows += [{"epoch": 0, "model_step": s, "loss/d": 10 * s} for s in (2, 3, 4)]  # resumed from step 1
    rows += [{"model_step": 4, "fid": 7.5}]
    run = job(tmp_path / "run", [], rows)
    assert metric_series(run) == {"loss/d": [(1.0, 1.0), (2.0, 20.0), (3.0, 30.0), (4.0, 40.0)], "fid": [(4.0, 7.5)]}
    assert final_metrics(run) == {"epoch": 0.0, "model_step": 4.0, "loss/d": 40.0, "fid": 7.5}


def test_a_metric_logged_at_one_step_is_a_visible_point_on_a_labelled_plot(tmp_path):
    """Two seeds of one configuration, each logged once (``trainer.max_steps=50``): the plot shows their
    mean as a marker of the line's colour at (50, mean), labels both axes, and keeps the legend off the data."""
    from matplotlib.colors import to_rgb

    from genzoo.callbacks.images import save_figure
    from genzoo.reports.figures import metric_figure

    fig = metric_figure("loss/d", {"(defaults)": [[(50.0, 1.0)], [(50.0, 3.0)]], "lr=1": [[(50.0, 5.0)]]})
    ax = fig.axes[0]
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("model step", "loss/d") and "loss/d" in ax.get_title()
    (legend,) = fig.legends
    assert [t.get_text() for t in legend.get_texts()] == ["(defaults)", "lr=1"]
    fig.canvas.draw()
    assert not legend.get_window_extent().overlaps(ax.get_window_extent())  # outside the axes
    width, height = fig.canvas.get_width_height()
    lines = {line.get_label(): line for line in ax.get_lines()}
    points = [(ax.transData.transform((50.0, y)), to_rgb(lines[label].get_color()))
              for y, label in ((2.0, "(defaults)"), (5.0, "lr=1"))]
    png = save_figure(fig, tmp_path / "loss_d.png")
    image = Image.open(png).convert("RGB")
    assert image.size == (width, height) == (640, 420 + 2 * 20)
    for (x, y), colour in points:
        centre = image.getpixel((round(x), height - round(y)))  # PNG rows count from the top
        assert max(abs(c / 255 - e) for c, e in zip(centre, colour)) < 0.02, (centre, colour)


def test_compare_averages_the_seeds_of_a_50_step_multirun_and_plots_every_metric(tmp_path):
    import compare

    sweep = tmp_path / "multirun"
    for seed, d in ((0, 1.0), (1, 3.0)):
        job(sweep / str(seed), [f"seed={seed}", "trainer.max_steps=50"],
            [{"epoch": 0, "loss/d": d, "loss/g": 2 * d, "model_step": 50, "step": 100}])
    res = compare.compare([sweep], tmp_path / "cmp")
    md = res["markdown"].read_text()
    assert "Overrides shared by every run: `trainer.max_steps=50`" in md
    assert "| (defaults) | 2 | 2 ± 1.4 | 4 ± 2.8 |" in md  # std of (1, 3): sqrt(2)
    assert sorted(p.name for p in res["plots"]) == ["loss_d.png", "loss_g.png"]
    assert all(Image.open(p).size == (640, 440) for p in res["plots"])


def test_the_c6_report_tables_a_synthetic_sweep_and_leaves_out_a_short_run(tmp_path, capsys):
    from genzoo.reports import c6

    sweep = tmp_path / "multirun"
    values = [(1, 0, 8, 0.5, 0.1), (1, 1, 6, 0.7, 0.3), (5, 0, 1, 0.99, 2.0), (5, 1, 1, 0.97, 2.0)]
    for n, (k, seed, modes, hq, kl) in enumerate(values):
        job(sweep / str(n), [f"model.n_critic={k}", f"seed={seed}"],
            [{"model_step": 100, "toy2d/2500/modes_covered": modes, "toy2d/2500/high_quality": hq, "toy2d/2500/mode_kl": kl}])
    job(sweep / "4", ["model.n_critic=1", "seed=2"], [{"model_step": 40, "toy2d/2500/modes_covered": 0}])
    c6.main([str(sweep), "--out", str(tmp_path / "out")])
    assert "Left out 1 run(s) that stopped before step 100: multirun/4 (step 40)" in capsys.readouterr().out
    md = (tmp_path / "out" / "c6_balance.md").read_text()
    assert "| ring (8 modes) | 1 | 1 | 2 | 7 ± 1.4 | 0.6 ± 0.14 | 0.2 ± 0.14 |" in md
    assert "| ring (8 modes) | 5 | 1 | 2 | 1 ± 0 | 0.98 ± 0.014 | 2 ± 0 |" in md
    assert Image.open(tmp_path / "out" / "c6_balance.png").size[0] > 0


@pytest.mark.cli
def test_a_report_runs_as_a_module_and_refuses_a_missing_folder_in_one_line(tmp_path):
    r = subprocess.run([sys.executable, "-m", "genzoo.reports.c6", str(tmp_path / "no_sweep")], cwd=tmp_path,
                       env=cli_env(), capture_output=True, text=True, timeout=120)
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    assert lines == [f"Error: {tmp_path / 'no_sweep'} is not a folder: give a sweep's multirun folder "
                     "(outputs/<task>/multiruns/<time>) or one of its run folders"]
    assert not (ROOT / "sweeps" / "report_utils.py").exists()  # one copy of the shared code: genzoo.reports

"""The README and docs/ stay true to the repository: the README fits its limit, every relative link points at
a file that exists, and every command in the README's bash blocks names only config groups, options and keys
that exist (each `python src/train.py ...` composed as train.py would compose it, without training)."""

from __future__ import annotations

import re
import shlex

import pytest

from conftest import ROOT

README = ROOT / "README.md"
PAGES = [README, *sorted((ROOT / "docs").glob("*.md"))]
MAX_README_LINES = 200
LINK = re.compile(r"\]\(([^)\s]+)\)")
PLACEHOLDER = re.compile(r"<[^>]*>|\.\.\.")
HYDRA_SCRIPTS = {"src/train.py": "train", "src/eval.py": "eval", "src/sample.py": "sample"}


def bash_lines(text: str) -> list[str]:
    """The commands of the ```bash blocks of ``text``: continuation lines joined, comments dropped."""
    lines, block = [], None
    for raw in text.splitlines():
        if raw.startswith("```"):
            block = [] if raw.strip() == "```bash" and block is None else None
            continue
        if block is None:
            continue
        line = raw.split(" #", 1)[0].strip() if not raw.lstrip().startswith("#") else ""
        if lines and lines[-1].endswith("\\"):
            lines[-1] = lines[-1][:-1].rstrip() + " " + line
        elif line:
            lines.append(line)
    return lines


def commands(text: str) -> list[tuple[str, list[str], bool]]:
    """(script or make target, its arguments, whether the line holds a placeholder such as <run> or ...) for
    every `python src/...` or `make ...` command. A checkpoint is read when the command runs, not when it is
    composed, so any ``ckpt_path=`` value counts as given."""
    out = []
    for line in bash_lines(text):
        line = re.sub(r"ckpt_path=\S+", "ckpt_path=x.ckpt", line)
        words, placeholder = shlex.split(line), bool(PLACEHOLDER.search(line))
        if words[:1] == ["make"]:
            out.append((f"make {words[1]}", words[2:], placeholder))
        elif "python" in words and words.index("python") + 1 < len(words):
            i = words.index("python")
            if words[i + 1].startswith("src/"):
                out.append((words[i + 1], words[i + 2:], placeholder))
    return out


def compose_overrides(args: list[str]) -> tuple[str, str | None, list[str]]:
    """train.py's arguments -> (config name, config dir or None, overrides), one value of each swept key."""
    name, config_dir, overrides = "train", None, []
    it = iter(args)
    for a in it:
        if a in ("-m", "--multirun"):
            continue
        if a == "--config-dir":
            config_dir = str(ROOT / next(it))
        elif a == "--config-name":
            name = next(it)
        else:
            overrides.append(a)
    return name, config_dir, overrides


def swept(override: str) -> bool:
    return "," in override and "[" not in override


def sweep_values(overrides: list[str]) -> list[list[str]]:
    """A multirun's override lists: the first value of every comma-swept key, plus each further value of a
    swept config group (``loss=minimax,nonsaturating``) once; a swept value (``seed=0,1``) needs no group."""
    first = [o.split(",")[0] if swept(o) else o for o in overrides]
    runs = [first]
    for i, o in enumerate(overrides):
        key, values = o.split("=", 1) if "=" in o else (o, "")
        if swept(o) and (ROOT / "conf" / key.lstrip("+~")).is_dir():
            runs += [first[:i] + [f"{key}={v}"] + first[i + 1:] for v in values.split(",")[1:]]
    return runs


def test_readme_fits_its_limit():
    n = len(README.read_text().splitlines())
    assert n <= MAX_README_LINES, f"README.md has {n} lines; move detail to docs/ (limit {MAX_README_LINES})"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_relative_links_point_at_files_that_exist(page):
    missing = []
    for target in LINK.findall(page.read_text()):
        if re.match(r"[a-z]+:", target) or target.startswith("#"):
            continue
        path = (page.parent / target.split("#", 1)[0]).resolve()
        if not path.exists():
            missing.append(target)
    assert not missing, f"{page.name}: links to missing files {missing}"


def test_readme_commands_are_found():
    """The parser sees the README's commands (a test that finds none would prove nothing)."""
    cmds = commands(README.read_text())
    scripts = {c for c, _, _ in cmds}
    assert {"src/train.py", "src/eval.py", "src/sample.py", "src/compare.py", "make train", "make test"} <= scripts
    assert sum(c == "src/train.py" and not p for c, _, p in cmds) >= 10


def test_readme_commands_name_existing_targets_scripts_and_config_keys(tmp_path):
    from hydra.core.global_hydra import GlobalHydra

    from genzoo.training import compose_config

    targets = set(re.findall(r"^([a-z][\w-]*):", (ROOT / "Makefile").read_text(), re.M))
    composed = 0
    try:
        for script, args, placeholder in commands(README.read_text()):
            if script.startswith("make "):
                assert script.split()[1] in targets, f"`{script}`: no such Makefile target"
                if script == "make train":
                    args = [a.split("=", 1)[1] for a in args if a.startswith("ARGS=")]
                    args = shlex.split(args[0]) if args else []
                    script = "src/train.py"
                else:
                    continue
            assert (ROOT / script).is_file(), f"{script} does not exist"
            if script not in HYDRA_SCRIPTS:
                continue
            if placeholder:
                continue
            name, config_dir, overrides = compose_overrides(args)
            if script != "src/train.py":
                name = HYDRA_SCRIPTS[script]
            for run in sweep_values(overrides):
                if config_dir is None:
                    compose_config(run, tmp_path / "out", config_name=name)
                else:  # --config-dir sweeps: the sweep file is the primary config, conf/ on the search path
                    compose_config([f"hydra.searchpath=[file://{ROOT / 'conf'}]", *run], tmp_path / "out",
                                   config_name=name, config_dir=config_dir)
                composed += 1
    finally:
        GlobalHydra.instance().clear()
    assert composed >= 12

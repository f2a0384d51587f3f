"""Every accuracy the README states next to a command is what that command gives.

A README line such as

    mlptrain train configs/spiral.yaml        # 97.67% test

(or `# 98.28% test with --threads 2, 98.33% with --threads 1` where the BLAS thread count
changes the summation order, hence the last digits) is run as written, from the repository's
root, in a subprocess with that many BLAS threads; the test accuracy of its summary.json,
rounded as the README rounds it, must be the figure. Commands on MNIST are slow tests, skipped
where the shared MNIST files are absent; `mnist-best` (minutes of training) is checked by
hand when its figure changes.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_MNIST = REPO.parent / "shared" / "data" / "mnist"
TOO_SLOW = ("configs/mnist-best.yaml",)  # minutes of training: checked by hand

_FIGURE_LINE = re.compile(r"^(mlptrain train [^#]+?)\s+#\s*(.*\d+\.\d+% test.*)$")
_WITH_THREADS = re.compile(r"(\d+\.\d+)% (?:test )?with --threads (\d+)")
_PLAIN = re.compile(r"(\d+\.\d+)% test")


def readme_figures() -> list[tuple[str, str, int | None]]:
    """(command, stated accuracy, BLAS threads or None) for every figure of the README."""
    readme = (REPO / "README.md").read_text()
    figures = []
    for block in re.findall(r"```bash\n(.*?)```", readme, flags=re.S):
        for line in block.splitlines():
            found = _FIGURE_LINE.match(line.strip())
            if not found:
                continue
            command, comment = found.groups()
            pairs = _WITH_THREADS.findall(comment)
            if pairs:
                figures += [(command, figure, int(threads)) for figure, threads in pairs]
            else:
                figures.append((command, _PLAIN.search(comment).group(1), None))
    return figures


def _case(command: str, figure: str, threads: int | None):
    marks = []
    if "mnist" in command:
        marks.append(pytest.mark.slow)
    if any(slow in command for slow in TOO_SLOW):
        marks.append(pytest.mark.skip(reason="minutes of training; checked by hand"))
    label = f"{command.split()[2]}-{figure}" + (f"-threads{threads}" if threads else "")
    return pytest.param(command, figure, threads, marks=marks, id=label)


def test_the_readme_states_figures_for_spiral_and_mnist():
    commands = {command.split()[2] for command, _, _ in readme_figures()}
    assert {"configs/spiral.yaml", "configs/mnist.yaml"} <= commands


@pytest.mark.parametrize(("command", "figure", "threads"),
                         [_case(*f) for f in readme_figures()])
def test_a_readme_figure_is_what_its_command_gives(command, figure, threads, tmp_path):
    if "mnist" in command and not (SHARED_MNIST / "train-images-idx3-ubyte.gz").exists():
        pytest.skip("the shared MNIST files are not present")
    args = shlex.split(command)[1:] + ["--quiet", "--out", str(tmp_path)]
    if threads is not None:
        args += ["--threads", str(threads)]
    env = {k: v for k, v in os.environ.items() if not k.endswith("_NUM_THREADS")}
    result = subprocess.run([sys.executable, "-m", "mlptrain", *args], cwd=REPO, env=env,
                            capture_output=True, text=True, timeout=1800, check=False)
    assert result.returncode == 0, result.stderr
    run_dir = Path(result.stdout.strip())
    accuracy = json.loads((run_dir / "summary.json").read_text())["test"]["accuracy"]
    assert f"{accuracy * 100:.2f}" == figure, (command, threads, accuracy)


def test_the_readme_counts_the_bad_input_corpus_right():
    from test_corpus import _params

    stated = re.search(r"`tests/test_corpus.py` runs (\d+) such cases",
                       (REPO / "README.md").read_text())
    assert stated and int(stated.group(1)) == len(list(_params()))

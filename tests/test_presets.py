"""The presets ship inside the package, so `--config NAME` finds them after a pip install, from
any directory; a file that exists wins over a preset of its name."""

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import yaml

from charrnn.config import preset_names
from conftest import invoke

ROOT = Path(__file__).resolve().parents[1]
QUICK = ["--hidden-size", "8", "--batch-size", "4", "--seq-length", "16", "--max-steps", "2", "--quiet"]


def saved_config(run_dir):
    return yaml.safe_load((run_dir / "config.yaml").read_text())


def test_a_preset_by_name_and_a_file_that_wins(tmp_path, corpus_file):
    """Each test runs in its own directory, outside the checkout: the preset comes from the package."""
    for name in ("lstm-small", "lstm-small.yaml"):
        result = invoke("train", corpus_file, "--config", name, *QUICK, "--run-dir", tmp_path / f"run-{name}")
        assert result.exit_code == 0, result.stderr
        assert saved_config(tmp_path / f"run-{name}")["num_layers"] == 1  # the preset's (the default is 2), flags on top
    (tmp_path / "lstm-small.yaml").write_text("num_layers: 3\n")
    result = invoke("train", corpus_file, "--config", "lstm-small.yaml", *QUICK, "--run-dir", tmp_path / "file")
    assert result.exit_code == 0, result.stderr
    assert saved_config(tmp_path / "file")["num_layers"] == 3


def test_an_unknown_name_is_one_line_naming_the_presets(corpus_file):
    result = invoke("train", corpus_file, "--config", "lstm-9x9", *QUICK)
    lines = result.stderr.splitlines()
    assert result.exit_code == 1 and result.stdout == "" and len(lines) == 1
    assert lines[0] == ("Error: cannot read config lstm-9x9: No such file or directory, and no preset has that name "
                        "(the presets: demo, gru-2x256, lstm-2x512, lstm-small, min-char-rnn)")
    assert preset_names() == ["demo", "gru-2x256", "lstm-2x512", "lstm-small", "min-char-rnn"]


def test_the_wheel_holds_the_presets_and_its_charrnn_finds_them(tmp_path, corpus_file):
    """Build the wheel from a copy of the sources, install it apart, and train with a preset by
    name from a directory that is not the checkout, with that installed charrnn."""
    source = tmp_path / "source"
    shutil.copytree(ROOT / "charrnn", source / "charrnn", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("setup.cfg", "pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--quiet"]
    subprocess.run([*pip, "wheel", "--no-deps", "--no-build-isolation", source, "-w", tmp_path / "wheels"],
                   check=True, capture_output=True)
    (wheel,) = (tmp_path / "wheels").glob("charrnn-*.whl")
    assert {f"charrnn/configs/{name}.yaml" for name in preset_names()} <= set(zipfile.ZipFile(wheel).namelist())
    subprocess.run([*pip, "install", "--no-deps", "--target", tmp_path / "site", wheel], check=True,
                   capture_output=True)
    env = dict(os.environ, PYTHONPATH=str(tmp_path / "site"))
    probe = subprocess.run([sys.executable, "-c", "import charrnn; print(charrnn.__file__)"], env=env, cwd=tmp_path,
                           capture_output=True, text=True, check=True)
    assert probe.stdout.startswith(str(tmp_path / "site"))  # the wheel's, not the checkout's
    result = subprocess.run([sys.executable, "-m", "charrnn", "train", corpus_file, "--config", "lstm-small", *QUICK,
                             "--kernels", "numpy", "--run-dir", tmp_path / "run"], env=env, cwd=tmp_path,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert saved_config(tmp_path / "run")["num_layers"] == 1

"""Data-parallel training under the real `mpiexec -n 2` (the test extra installs mpi4py and MPICH)."""

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from charrnn.checkpoint import load_checkpoint

MPIEXEC = shutil.which("mpiexec", path=str(Path(sys.executable).parent)) or shutil.which("mpiexec")
MODEL = ["--hidden-size", "16", "--num-layers", "2", "--batch-size", "8", "--seq-length", "16", "--eval-every", "10",
         "--quiet"]


# Ranks print to one pipe and their lines can interleave, so rank 0 prints for all of them.
GATHER = ("from mpi4py import MPI\n"
          "def report(value):\n"
          "    values = MPI.COMM_WORLD.gather(str(value))\n"
          "    if MPI.COMM_WORLD.rank == 0:\n"
          "        print(' '.join(values))\n")


@pytest.fixture(scope="module", autouse=True)
def mpi_starts():
    pytest.importorskip("mpi4py", reason="mpi4py is not installed (pip install 'charrnn[mpi]')")
    if MPIEXEC is None:
        pytest.skip("no mpiexec on PATH or beside Python")
    probe = subprocess.run([MPIEXEC, "-n", "2", sys.executable, "-c", GATHER + "report(MPI.COMM_WORLD.size)"],
                           capture_output=True, text=True, timeout=60)
    if probe.returncode != 0 or probe.stdout.split() != ["2", "2"]:
        pytest.skip(f"MPI cannot start two ranks here: {probe.stderr.strip()[:200]}")


def charrnn(*args, ranks=None, timeout=120, **kwargs):
    launcher = [MPIEXEC, "-n", str(ranks)] if ranks else []
    return subprocess.run([*launcher, sys.executable, "-m", "charrnn", *map(str, args)], capture_output=True,
                          text=True, timeout=timeout, **kwargs)


def relative_difference(a, b):
    return max(float(np.abs(a.params[k] - b.params[k]).max() / np.abs(a.params[k]).max()) for k in a.params)


@pytest.mark.parametrize("dtype, tolerance, extra", [
    ("float64", 1e-12, ["--cell", "lstm", "--optimizer", "adam", "--learning-rate", "0.01", "--dropout", "0.2",
                        "--state-reset", "0.2"]),
    ("float32", 1e-5, ["--cell", "gru", "--optimizer", "adagrad"]),
    ("float64", 1e-12, ["--cell", "qrnn", "--qrnn-window", "2", "--optimizer", "adam", "--learning-rate", "0.01",
                        "--dropout", "0.2", "--state-reset", "0.2"]),
    ("float32", 1e-5, ["--cell", "mingru", "--optimizer", "adam", "--learning-rate", "0.01"]),
], ids=["lstm", "gru", "qrnn-2", "mingru"])
def test_two_ranks_train_the_single_process_model(tmp_path, corpus_file, dtype, tolerance, extra):
    """20 steps on 2 ranks equal 20 steps in one process, but for the order of summation."""
    args = [corpus_file, *MODEL, *extra, "--dtype", dtype, "--max-steps", "20"]
    one = charrnn("train", *args, "--run-dir", tmp_path / "one")
    two = charrnn("train", *args, "--run-dir", tmp_path / "two", ranks=2)
    assert one.returncode == 0 and two.returncode == 0, two.stderr
    assert two.stdout == f"{tmp_path / 'two'}\n" and "on 2 ranks" in two.stderr
    assert two.stderr.count("\n") == one.stderr.count("\n")  # rank 0 alone prints
    a, b = load_checkpoint(tmp_path / "one" / "latest.npz"), load_checkpoint(tmp_path / "two" / "latest.npz")
    assert relative_difference(a, b) < tolerance
    assert a.meta["rng"] == b.meta["rng"] and b.meta["ranks"] == 2
    assert all(np.allclose(x, y, rtol=0, atol=tolerance * 10) for la, lb in zip(a.state, b.state)
               for x, y in zip(la, lb))
    assert b.meta["best_val"] == pytest.approx(a.meta["best_val"], rel=tolerance * 10)


def test_resume_on_two_ranks_is_exact_and_on_one_continues(tmp_path, corpus_file):
    args = [corpus_file, *MODEL, "--dtype", "float64", "--dropout", "0.1"]
    assert charrnn("train", *args, "--max-steps", "20", "--run-dir", tmp_path / "straight", ranks=2).returncode == 0
    assert charrnn("train", *args, "--max-steps", "10", "--run-dir", tmp_path / "split", ranks=2).returncode == 0
    assert charrnn("train", "--resume", tmp_path / "split", "--max-steps", "20", "--quiet", ranks=2).returncode == 0
    with np.load(tmp_path / "straight" / "latest.npz") as a, np.load(tmp_path / "split" / "latest.npz") as b:
        assert all(a[k].tobytes() == b[k].tobytes() for k in a.files if k != "meta")
    assert charrnn("train", *args, "--max-steps", "10", "--run-dir", tmp_path / "other", ranks=2).returncode == 0
    other = charrnn("train", "--resume", tmp_path / "other", "--max-steps", "20", "--quiet")
    assert other.returncode == 0 and "saved by 2 rank(s) on 1" in other.stderr
    straight = load_checkpoint(tmp_path / "straight" / "latest.npz")
    assert relative_difference(straight, load_checkpoint(tmp_path / "other" / "latest.npz")) < 1e-12


def test_rank_0_alone_reports(tmp_path, corpus_file):
    """Progress lines, samples and notes come once, from rank 0, as they come from one process."""
    args = [corpus_file, *MODEL[:-1], "--dtype", "float64", "--max-steps", "20", "--sample-every", "10"]
    one = charrnn("train", *args, "--run-dir", tmp_path / "one")
    two = charrnn("train", *args, "--run-dir", tmp_path / "two", ranks=2)
    assert one.returncode == 0 and two.returncode == 0, two.stderr

    def shown(stderr):
        return [line.split(" | ")[0] for line in stderr.splitlines() if " | " in line or line.startswith("-----")]

    assert shown(two.stderr) == shown(one.stderr) and "step 20/20" in shown(one.stderr)
    assert two.stderr.count("----- sample at step 20\n") == 1
    changed = tmp_path / "changed.txt"
    changed.write_text(corpus_file.read_text()[::-1])  # the same characters, other text
    resumed = charrnn("train", changed, "--resume", tmp_path / "two", "--max-steps", "25", "--allow-corpus-change",
                      "--quiet", ranks=2)
    assert resumed.returncode == 0 and resumed.stderr.count("note: fine-tuning on a changed corpus") == 1


def test_a_killed_rank_stops_the_job_and_keeps_the_checkpoint(tmp_path, corpus_file):
    run_dir = tmp_path / "run"
    job = subprocess.Popen([MPIEXEC, "-n", "2", sys.executable, "-m", "charrnn", "train", str(corpus_file), *MODEL,
                            "--max-steps", "1000000", "--checkpoint-every", "5", "--run-dir", str(run_dir)],
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 60
    while not (run_dir / "latest.npz").exists():
        assert time.time() < deadline and job.poll() is None, "training did not save"
        time.sleep(0.05)
    ranks = subprocess.run(["pgrep", "-f", f"charrnn train {corpus_file}"], capture_output=True, text=True)
    pids = [int(p) for p in ranks.stdout.split() if int(p) != job.pid]
    os.kill(pids[-1], signal.SIGKILL)
    killed = time.time()
    job.wait(timeout=30)
    assert job.returncode != 0 and time.time() - killed < 10
    assert load_checkpoint(run_dir / "latest.npz").meta["step"] >= 5


def test_ctrl_c_on_the_launcher_saves_once_and_exits(tmp_path, corpus_file):
    run_dir = tmp_path / "run"
    job = subprocess.Popen([MPIEXEC, "-n", "2", sys.executable, "-m", "charrnn", "train", str(corpus_file), *MODEL,
                            "--max-steps", "1000000", "--log-every", "2", "--run-dir", str(run_dir)],
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while not (run_dir / "metrics.jsonl").exists() or (run_dir / "metrics.jsonl").read_text().count("\n") < 2:
        assert time.time() < deadline and job.poll() is None, "training did not start"
        time.sleep(0.05)
    job.send_signal(signal.SIGINT)
    _, stderr = job.communicate(timeout=60)
    assert job.returncode == 130
    lines = stderr.strip().splitlines()
    step = load_checkpoint(run_dir / "latest.npz").meta["step"]
    assert lines == [f"Error: interrupted by SIGINT at step {step}; checkpoint saved to {run_dir / 'latest.npz'}"]


def test_a_rank_with_other_text_is_refused(tmp_path, corpus_file):
    for name, text in [("a", corpus_file.read_text()), ("b", corpus_file.read_text()[:5000])]:
        (tmp_path / name).mkdir()
        (tmp_path / name / "text.txt").write_text(text)
    train = [sys.executable, "-m", "charrnn", "train", "text.txt", *MODEL, "--run-dir", str(tmp_path / "run")]
    launch = [MPIEXEC, "-n", "1", "-wdir", str(tmp_path / "a"), *train, ":", "-n", "1", "-wdir", str(tmp_path / "b"),
              *train]
    result = subprocess.run(launch, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [result.stderr.strip()]
    assert "rank 1's corpus content hash differs from rank 0's" in result.stderr


def test_without_mpi4py_one_line_says_what_to_install(corpus_file):
    code = "import sys; sys.modules['mpi4py'] = None; from charrnn.cli import cli; cli(sys.argv[1:])"
    result = subprocess.run([MPIEXEC, "-n", "2", sys.executable, "-c", code, "train", str(corpus_file), *MODEL],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert result.stderr == ("Error: running under an MPI launcher with 2 ranks, but mpi4py is not installed; "
                             "install it with: pip install 'charrnn[mpi]'\n")


def test_each_rank_gets_its_share_of_blas_threads_unless_told():
    code = "import os, charrnn.cli\n" + GATHER + "report(os.environ.get('OPENBLAS_NUM_THREADS'))"
    env = {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS",
                                                              "MKL_NUM_THREADS")}
    share = subprocess.run([MPIEXEC, "-n", "2", sys.executable, "-c", code], capture_output=True, text=True, env=env,
                           timeout=60)
    assert share.stdout.split() == [str(max(1, os.cpu_count() // 2))] * 2
    told = subprocess.run([MPIEXEC, "-n", "2", sys.executable, "-c", code], capture_output=True, text=True,
                          env={**env, "OPENBLAS_NUM_THREADS": "3"}, timeout=60)
    assert told.stdout.split() == ["3", "3"]
    alone = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)  # size 1
    assert alone.stdout.split() == ["None"]


def test_a_single_process_imports_nothing_from_mpi(tmp_path, corpus_file):
    code = ("import sys; from click.testing import CliRunner; from charrnn.cli import cli; "
            f"r = CliRunner().invoke(cli, ['train', {str(corpus_file)!r}, '--run-dir', {str(tmp_path / 'r')!r}, "
            "'--max-steps', '2', '--hidden-size', '8', '--quiet']); assert r.exit_code == 0, r.output; "
            "print(sorted(m for m in sys.modules if m.startswith('mpi4py')))")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "[]"


def test_time_plans_once_and_every_rank_trains_that_plan(tmp_path, corpus_file):
    """The root's measurements decide: ranks that planned apart would run different step counts."""
    result = charrnn("train", corpus_file, "--time", "4s", *MODEL, "--run-dir", tmp_path / "run", ranks=2)
    assert result.returncode == 0, result.stderr
    assert result.stderr.count("plan for 4 s") == 1 and "on 2 ranks" in result.stderr

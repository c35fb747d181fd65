"""make bench-inspect: the figures of docs/inspect.md.

1. Speed: `charrnn inspect score` (jsonl, and the plain view) against `charrnn eval` on
   tiny-shakespeare's validation split (its last 10%), chars/s of whole commands, in wall
   clock and in CPU time, the best of --repeats runs each, interleaved (on a shared machine
   the best run is the least disturbed one, and CPU time is steadier than wall clock).
2. Memory: peak RSS (VmHWM, or the child's rusage) of `eval` and `inspect score --format jsonl`
   on a --big-mb file of tiny-shakespeare repeated, with a small model (the text, not the
   model, is what takes memory).
3. The HTML: size of a units report of a 20,000-character text with every h and c unit of
   a 2×256 LSTM, and in headless Chromium the time to load it (until the page has coloured
   the text) and to recolour it for another unit.

Models without a --checkpoint are trained for one step by `charrnn train` (weights close to
their initialisation: speed and memory do not depend on the values; for the HTML size they
are a hard case, noise that deflate cannot shrink much).

    python benchmarks/inspect_bench.py [--checkpoint RUN] [--repeats 3] [--big-mb 100] [--parts speed,html,memory]
"""

import argparse
import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CORPUS = next(p for p in (ROOT.parent / "shared/corpora/tiny-shakespeare.txt", ROOT / "corpora/tiny-shakespeare.txt")
              if p.is_file())


def charrnn(*args):
    """Run a charrnn command to its end: (wall-clock seconds, CPU seconds, peak RSS in MB), the
    last two from the child's own rusage (os.wait4), not summed over other children."""
    start = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-m", "charrnn", *map(str, args)], stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, cwd=ROOT)
    stderr = process.stderr.read()
    _, status, usage = os.wait4(process.pid, 0)
    if status:
        sys.exit(f"charrnn {' '.join(map(str, args))} failed: {stderr.decode()}")
    return time.perf_counter() - start, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def one_step_model(work, name, corpus, *flags):
    """A checkpoint trained for one step on `corpus` (its vocab, the given shape)."""
    run = work / name
    charrnn("train", corpus, "--run-dir", run, "--max-steps", "1", "--eval-every", "1", "--quiet",
            "--cache-dir", work / "cache", *flags)
    return run


def speed(work, checkpoint, repeats):
    text = CORPUS.read_text()
    val = work / "val.txt"
    val.write_text(text[len(text) * 9 // 10:])
    chars = len(val.read_text()) - 1
    commands = {"eval": ["eval", val], "inspect score --format jsonl": ["inspect", "score", val, "--format", "jsonl"],
                "inspect score (plain, to a pipe)": ["inspect", "score", val]}
    wall, cpu = ({name: float("inf") for name in commands} for _ in range(2))
    for _ in range(repeats):
        for name, args in commands.items():
            seconds, cpu_seconds, _ = charrnn(*args, "--checkpoint", checkpoint)
            wall[name], cpu[name] = min(wall[name], seconds), min(cpu[name], cpu_seconds)
    print(f"speed on the validation split ({chars:,} chars), best of {repeats}, whole commands (wall clock; CPU time):")
    for name in commands:
        print(f"  {name:34} {chars / wall[name]:9,.0f} chars/s  {wall['eval'] / wall[name]:.2f}x eval;  "
              f"{chars / cpu[name]:9,.0f} chars per CPU second  {cpu['eval'] / cpu[name]:.2f}x eval")


def peak_rss(settle, *args):
    """Peak RSS (MB) of a charrnn command, and how it ended. With `settle` > 0 (Linux), the
    command is stopped once its peak (VmHWM) has not grown for `settle` seconds: the peak
    comes while the text is encoded, before the first window, and the rest streams in
    constant memory (on a busy 2-core machine the whole 100 MB run takes hours)."""
    process = subprocess.Popen([sys.executable, "-m", "charrnn", *map(str, args)], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, cwd=ROOT)
    start = since = time.perf_counter()
    if not settle:
        _, _, usage = os.wait4(process.pid, 0)
        return usage.ru_maxrss / 1024, f"ran to the end in {time.perf_counter() - start:.0f} s"
    peak = 0
    while process.poll() is None and time.perf_counter() - since < settle:
        time.sleep(1)
        with contextlib.suppress(OSError, IndexError):  # the process may end between poll and read
            now = int(Path(f"/proc/{process.pid}/status").read_text().split("VmHWM:")[1].split()[0]) / 1024
            peak, since = (now, time.perf_counter()) if now > peak else (peak, since)
    if process.poll() is None:
        process.terminate()
        process.wait()
        return peak, f"stopped after {time.perf_counter() - start:.0f} s, its peak unchanged for {settle} s"
    return peak, f"ran to the end in {time.perf_counter() - start:.0f} s"


def memory(work, big_mb, settle):
    big = work / "big.txt"
    text = CORPUS.read_bytes()
    with open(big, "wb") as f:
        for _ in range(big_mb * 2 ** 20 // len(text) + 1):
            f.write(text)
    os.truncate(big, big_mb * 2 ** 20)
    model = one_step_model(work, "small", CORPUS, "--hidden-size", "32", "--num-layers", "1", "--no-layer-norm")
    eval_mb, eval_end = peak_rss(settle, "eval", big, "--checkpoint", model)
    inspect_mb, inspect_end = peak_rss(settle, "inspect", "score", big, "--checkpoint", model, "--format", "jsonl")
    print(f"peak memory on a {big_mb} MB file (a 1x32 LSTM): eval {eval_mb:,.0f} MB ({eval_end}); inspect score "
          f"--format jsonl {inspect_mb:,.0f} MB ({inspect_end}): {inspect_mb - eval_mb:+,.0f} MB")


def html(work):
    text = CORPUS.read_text()[:20000]
    (work / "20k.txt").write_text(text)
    model = one_step_model(work, "wide", CORPUS, "--hidden-size", "256", "--num-layers", "2")
    report = work / "units.html"
    seconds, _, _ = charrnn("inspect", "units", work / "20k.txt", "--checkpoint", model, "-o", report)
    print(f"units report, 20,000 chars x 1,024 units (2x256 LSTM, h and c): {report.stat().st_size / 1e6:.1f} MB, "
          f"written in {seconds:.1f} s")
    browser_times(report)


def browser_times(report):
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
        from selenium.webdriver.support.ui import WebDriverWait
    except ImportError:
        print("  (selenium is not installed: no load time)")
        return
    binary, driver_path = shutil.which("chromium"), shutil.which("chromedriver")
    if not (binary and driver_path):
        print("  (chromium or chromedriver is missing: no load time)")
        return
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=driver_path), options=options)
    try:
        start = time.perf_counter()
        driver.get(report.as_uri())
        WebDriverWait(driver, 120).until(lambda d: d.execute_script("return document.body.dataset.ready === '1'"))
        loaded = time.perf_counter() - start
        recolour = driver.execute_script("""
            const select = document.querySelector('select'), t0 = performance.now();
            select.value = 700; select.dispatchEvent(new Event('change'));
            getComputedStyle(document.querySelector('#text span')).backgroundColor;
            return performance.now() - t0;""")
        print(f"  in headless Chromium: loaded and coloured in {loaded:.2f} s, recoloured for another unit in "
              f"{recolour:.0f} ms")
    finally:
        driver.quit()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--checkpoint", help="for the speed figures [default: a 2x128 LSTM trained one step]")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--big-mb", type=int, default=100)
    parser.add_argument("--settle", type=int, default=60,
                        help="stop a memory run once its peak has not grown for this many seconds (0: run to the end)")
    parser.add_argument("--parts", default="speed,html,memory", help="which figures, comma-separated")
    args = parser.parse_args()
    parts = args.parts.split(",")
    print(f"load average at the start: {' '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} cores")
    with tempfile.TemporaryDirectory(prefix="charrnn-bench-inspect-") as work:
        work = Path(work)
        if "speed" in parts:
            speed(work, Path(args.checkpoint or one_step_model(work, "default", CORPUS)).resolve(), args.repeats)
        if "html" in parts:
            html(work)
        if "memory" in parts:
            memory(work, args.big_mb, args.settle)
    print(f"load average at the end: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()

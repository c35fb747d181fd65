"""The README's pictures of `charrnn inspect` (docs/img/inspect-score.png, inspect-units.png):
the score and units reports of a model, for a passage of tiny-shakespeare's validation
split, photographed in headless Chromium.

    python benchmarks/inspect_screenshots.py RUN [--unit 1:c:23]
    (RUN: e.g. `charrnn train ../shared/corpora/tiny-shakespeare.txt --time 3m`'s run directory)
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from inspect_bench import CORPUS, ROOT


def report(work, name, *args):
    path = work / f"{name}.html"
    subprocess.run([sys.executable, "-m", "charrnn", "inspect", name, *map(str, args), "-o", path], check=True,
                   cwd=work, stdout=subprocess.DEVNULL, env={**os.environ, "PYTHONPATH": str(ROOT)})
    return path


def photograph(driver, page, target, hover=None):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(page.as_uri())
    WebDriverWait(driver, 60).until(lambda d: d.execute_script("return document.body.dataset.ready === '1'"))
    if hover is not None:
        ActionChains(driver).move_to_element(driver.find_elements(By.CSS_SELECTOR, "#text span")[hover]).perform()
    driver.save_screenshot(str(target))
    print(f"{target}: {target.stat().st_size / 1024:.0f} KB")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("run")
    parser.add_argument("--unit", default="1:c:23", help="the unit the units picture shows first")
    args = parser.parse_args()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    text = CORPUS.read_text()
    validation = text[len(text) * 9 // 10:]
    start = validation.index("\n\n", 2000) + 2  # from the start of a speech
    passage = validation[start:start + 600]
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium")
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=860,560", "--hide-scrollbars"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=shutil.which("chromedriver")), options=options)
    images = ROOT / "docs" / "img"
    with tempfile.TemporaryDirectory() as work:
        work = Path(work)
        (work / "passage.txt").write_text(passage)
        try:
            run = Path(args.run).resolve()
            photograph(driver, report(work, "score", "passage.txt", "--checkpoint", run),
                       images / "inspect-score.png", hover=95)
            photograph(driver, report(work, "units", "passage.txt", "--checkpoint", run, "--unit",
                                      args.unit, "--top", "20", "--kinds", "c"), images / "inspect-units.png")
        finally:
            driver.quit()


if __name__ == "__main__":
    main()

"""The HTML report as a reviewer's browser shows it: real headless Chromium (Debian ``chromium``,
driven by Playwright; ``bash .ci/setup`` installs both, and either missing fails these tests).

For the report of a digits-like classification run and of a regression run, the judge proves:

- the page loads with no console message of level error and no uncaught page error;
- no request leaves the page: every request Chromium makes (recorded over the DevTools protocol,
  ``data:`` ones included) is the page itself or a ``data:`` URI; anything else is also aborted, so
  a broken page never reaches the network;
- every ``<img>`` has decoded (``naturalWidth > 0``) and is not blank: drawn onto a canvas in the
  page, its grey levels vary (variance > 10 on 0-255, as tests/report/test_report.py asks of the
  PNG files);
- a full-page screenshot, itself not blank, is written for people to look at:
  ``$LEPTON_TEST_ARTIFACTS/report-in-chromium/<task>.png``; without ``LEPTON_TEST_ARTIFACTS`` (a
  CI job sets it to a directory it keeps as an artifact) under pytest's temporary directory.

The negative controls break the regression report in each way the judge must notice (an external
image, with and without the report's CSP; a blank plot; an undecodable plot; a script error) and
show that the judge fails it, for the reason expected. One browser serves the whole module.
"""

from __future__ import annotations

import base64
import contextlib
import http.server
import io
import os
import re
import shutil
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from lepton_ci.report import write_report
from tests.report.test_report import make_run

# grey-level mean and variance of each <img>, drawn at its natural size onto a canvas
IMAGES_JS = """() => [...document.images].map((img) => {
  const row = {id: img.id, src: img.src.slice(0, 40), complete: img.complete,
               width: img.naturalWidth, height: img.naturalHeight, variance: null};
  if (!img.complete || img.naturalWidth === 0) return row;
  const canvas = document.createElement("canvas");
  canvas.width = img.naturalWidth;
  canvas.height = img.naturalHeight;
  const context = canvas.getContext("2d");
  context.drawImage(img, 0, 0);
  const rgba = context.getImageData(0, 0, canvas.width, canvas.height).data;
  let sum = 0, squares = 0;
  for (let i = 0; i < rgba.length; i += 4) {
    const grey = 0.299 * rgba[i] + 0.587 * rgba[i + 1] + 0.114 * rgba[i + 2];
    sum += grey;
    squares += grey * grey;
  }
  const n = rgba.length / 4, mean = sum / n;
  row.variance = squares / n - mean * mean;
  return row;
})"""
STYLED_JS = "() => getComputedStyle(document.querySelector('td')).borderTopStyle === 'solid'"
BLANK = 10.0  # grey-level variance at or below which an image counts as blank


@dataclass
class Verdict:
    """What Chromium saw of one page."""

    requests: list[str] = field(default_factory=list)  # every URL requested, data: included
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    images: list[dict[str, Any]] = field(default_factory=list)
    styled: bool = False  # the report's stylesheet applies (its tables have borders)
    page_url: str = ""
    origin: str | None = None  # a server's own files: allowed beside the page

    def own(self, url: str) -> bool:
        return url == self.page_url or bool(self.origin and url.startswith(self.origin + "/"))

    @property
    def external(self) -> list[str]:
        return [u for u in self.requests if not self.own(u) and not u.startswith("data:")]

    @property
    def undecoded(self) -> list[str]:
        return [i["id"] or i["src"] for i in self.images if not i["complete"] or not i["width"]]

    @property
    def blank(self) -> list[str]:
        return [
            i["id"] or i["src"]
            for i in self.images
            if i["variance"] is not None and i["variance"] <= BLANK
        ]

    def problems(self) -> list[str]:
        found = {
            "external requests": self.external,
            "console errors": self.console_errors,
            "page errors": self.page_errors,
            "images that did not decode": self.undecoded,
            "blank images": self.blank,
        }
        return [f"{what}: {items}" for what, items in found.items() if items]


def judge(
    browser: Any, page: Path | str, screenshot: Path | None = None, origin: str | None = None
) -> Verdict:
    """Open ``page`` (a file, or a URL on ``origin``) in a fresh browser context and record what
    happens. Requests within ``origin`` (a server's files beside the page) are not external."""
    url = page.resolve().as_uri() if isinstance(page, Path) else page
    verdict = Verdict(page_url=url, origin=origin)
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        # only the page (and its origin) may load; anything else is recorded and never sent
        context.route(
            "**/*",
            lambda route: route.continue_() if verdict.own(route.request.url) else route.abort(),
        )
        tab = context.new_page()
        devtools = context.new_cdp_session(tab)  # Playwright's own events omit data: URIs
        devtools.send("Network.enable")
        devtools.on(
            "Network.requestWillBeSent", lambda e: verdict.requests.append(e["request"]["url"])
        )
        tab.on(
            "console",
            lambda m: m.type in ("error", "assert") and verdict.console_errors.append(m.text),
        )
        tab.on("pageerror", lambda error: verdict.page_errors.append(str(error)))
        tab.goto(verdict.page_url, wait_until="load")
        assert tab.evaluate("document.readyState") == "complete"
        verdict.images = tab.evaluate(IMAGES_JS)
        verdict.styled = tab.evaluate(STYLED_JS)
        if screenshot is not None:
            screenshot.parent.mkdir(parents=True, exist_ok=True)
            tab.screenshot(path=str(screenshot), full_page=True)
    finally:
        context.close()
    return verdict


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.fail(
            "chromium is missing: run `bash .ci/setup` (it installs Debian's chromium)",
            pytrace=False,
        )
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("playwright is not installed; it is part of the `test` extra (bash .ci/setup)")
    # Chromium refuses to start as root with its sandbox on (containers, CI runners): --no-sandbox.
    # The page is our own file and may load nothing, so the sandbox guards little here.
    args = ["--no-sandbox"] if os.geteuid() == 0 else []
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium, args=args)
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    kept = os.environ.get("LEPTON_TEST_ARTIFACTS")
    root = Path(kept) if kept else tmp_path_factory.mktemp("artifacts")
    return root / "report-in-chromium"


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """task -> the report's index.html, for a digits-like and a regression run."""
    digits = make_run(
        tmp_path_factory.mktemp("classification"),
        champion={"accuracy": 0.6},
        classes=tuple(str(digit) for digit in range(10)),
        size=450,
        epochs=8,
    )
    regression = make_run(tmp_path_factory.mktemp("regression"), "regression", gates=("mae <= 1",))
    return {"classification": write_report(digits), "regression": write_report(regression)}


@pytest.mark.parametrize(
    ("task", "plots"),
    [
        ("classification", {"champion", "confusion_matrix", "per_class", "training_curves"}),
        ("regression", {"regression", "training_curves"}),
    ],
)
def test_the_report_loads_offline_and_every_plot_shows(
    browser: Any, reports: dict[str, Path], artifacts: Path, task: str, plots: set[str]
) -> None:
    screenshot = artifacts / f"{task}.png"
    verdict = judge(browser, reports[task], screenshot)
    assert verdict.problems() == []
    assert {image["id"] for image in verdict.images} == {f"plot-{p}" for p in plots}
    assert sum(u.startswith("data:image/png") for u in verdict.requests) == len(plots)
    shot = np.asarray(Image.open(screenshot).convert("L"), dtype=float)
    assert shot.shape[0] > 900 and shot.var() > BLANK  # the whole page, longer than the window


def _png(pixels: np.ndarray) -> str:
    buffer = io.BytesIO()
    Image.fromarray(pixels.astype(np.uint8)).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _first_plot(html: str, data: str) -> str:
    return re.sub(r"base64,[^\"]+", lambda _: f"base64,{data}", html, count=1)


def _no_csp(html: str) -> str:
    return re.sub(r'<meta http-equiv="Content-Security-Policy"[^>]*>', "", html)


def _before_end(html: str, tag: str) -> str:
    return html.replace("</body>", f"{tag}</body>")


EXTERNAL = '<img alt="tracker" src="https://example.com/pixel.png">'
BROKEN = [
    ("an external image", lambda h: _before_end(h, EXTERNAL), "external"),
    ("an external image, CSP removed", lambda h: _before_end(_no_csp(h), EXTERNAL), "external"),
    ("a blank plot", lambda h: _first_plot(h, _png(np.full((48, 64), 255))), "blank"),
    ("a plot that does not decode", lambda h: _first_plot(h, "bm90IGEgcG5n"), "undecoded"),
    (
        "a script error, CSP removed",
        lambda h: _before_end(_no_csp(h), "<script>notDefined()</script>"),
        "page_errors",
    ),
    ("a script the CSP blocks", lambda h: _before_end(h, "<script>1</script>"), "console_errors"),
]


@pytest.mark.parametrize(("case", "breaks", "caught_as"), BROKEN, ids=[b[0] for b in BROKEN])
def test_the_judge_fails_a_broken_page(
    browser: Any,
    reports: dict[str, Path],
    tmp_path: Path,
    case: str,
    breaks: Callable[[str], str],
    caught_as: str,
) -> None:
    html = reports["regression"].read_text()
    broken = breaks(html)
    assert broken != html, f"{case}: the page did not change"
    page = tmp_path / "index.html"
    page.write_text(broken)
    verdict = judge(browser, page)
    assert getattr(verdict, caught_as), f"{case} went unnoticed: {verdict}"
    assert verdict.problems()


# Jenkins serves every published or archived file with this header (DirectoryBrowserSupport's
# default; jenkins.io/doc/book/security/configuring-content-security-policy): "Inline image
# definitions are prohibited", "Inline style sheets are prohibited".
JENKINS_CSP = "sandbox allow-same-origin; default-src 'none'; img-src 'self'; style-src 'self';"


@contextlib.contextmanager
def served_as_jenkins_does(folder: Path) -> Iterator[str]:
    """``folder`` over HTTP on 127.0.0.1 with Jenkins' CSP header; yields the origin."""

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, directory=str(folder), **kwargs)

        def end_headers(self) -> None:
            self.send_header("Content-Security-Policy", JENKINS_CSP)
            super().end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("task", ["classification", "regression"])
def test_under_jenkins_csp_the_published_page_shows_every_plot_styled(
    browser: Any, reports: dict[str, Path], artifacts: Path, task: str
) -> None:
    """page.html is what the generated Jenkinsfile publishes (publishHTML reportFiles)."""
    folder = reports[task].parent
    plots = {f"plot-{p.stem}" for p in (folder / "plots").glob("*.png")}
    with served_as_jenkins_does(folder) as origin:
        verdict = judge(browser, f"{origin}/page.html", artifacts / f"{task}-jenkins.png", origin)
    assert verdict.problems() == []
    assert {image["id"] for image in verdict.images} == plots
    assert verdict.styled


def test_under_jenkins_csp_a_self_contained_page_would_show_no_plot(
    browser: Any, reports: dict[str, Path]
) -> None:
    """Why Jenkins gets page.html: index.html's data: images are refused there."""
    folder = reports["regression"].parent
    with served_as_jenkins_does(folder) as origin:
        verdict = judge(browser, f"{origin}/index.html", origin=origin)
    assert len(verdict.undecoded) == len(list((folder / "plots").glob("*.png")))
    assert not verdict.styled  # its inline <style> is refused too

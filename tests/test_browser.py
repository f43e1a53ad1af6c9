"""The prompt comparator of lesson 04, driven in a real browser (headless Chromium).

JupyterLab runs headless on 127.0.0.1 with no token, its config, data, settings and workspaces
in a temporary folder, and the kernel on the bundled model (``CLIPCOURSE_MODEL=tiny-shapes``).
Playwright for Python drives Debian's chromium (``.ci/install-browser`` installs it): Run ->
Run All Cells, type a prompt into the comparator (CSS class ``cc-prompt-input``), and check that
the probabilities it shows (``cc-comparator-output``) change. The screenshot goes to
``artifacts/browser/lesson04.png``; on failure, ``*-failure.png`` and the server log go there too.

A first, quick test runs the same harness on a synthetic notebook (a Text widget and an observer
writing to an Output), so a broken harness and a broken lesson fail differently.

A third test runs every course widget once in a generated notebook (bundled model) and saves a
screenshot of each to ``artifacts/browser/<widget>.png`` for review. It checks what only a
browser shows: the upload button's label and counter fit (and an upload through the file
chooser is classified), and in a 420 px column the comparator keeps each bar and its number on
one line and a long prompt's header at most three lines tall.

Without ``/usr/bin/chromium`` (or Playwright) the tests skip, except when ``CI`` is set: CI must
prove the widget works in a browser, so there they fail.
"""

import contextlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

pytestmark = [pytest.mark.slow, pytest.mark.browser]

ROOT = Path(__file__).resolve().parent.parent
LESSON = ROOT / "notebooks" / "04_prompt_engineering_and_ensembling.ipynb"
ARTIFACTS = ROOT / "artifacts" / "browser"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
SERVER_START_S = 60
PAGE_LOAD_S = 90  # JupyterLab opens a notebook in a few seconds; minutes on a loaded 2-core box
RUN_ALL_S = 180  # lesson 04 runs in 20-55 s on the bundled model on a busy 2-core CPU

# JupyterLab user settings: no news popup or update check (they may cover cells, and reach the
# network); start the notebook's kernel without a "Select Kernel" dialog (it appears now and then
# when the kernel specs load late); every cell attached to the page so all prompts can be read.
LAB_SETTINGS = {
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings":
        {"fetchNews": "false", "checkForUpdates": False},
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings":
        {"windowingMode": "none", "autoStartDefaultKernel": True},
}


def _unavailable(reason):
    if os.environ.get("CI"):
        pytest.fail(f"{reason}; CI must run the browser test (run .ci/install-browser)")
    pytest.skip(f"{reason} (run .ci/install-browser to install it)")


@pytest.fixture(scope="module")
def sync_playwright():
    if not CHROMIUM.exists():
        _unavailable(f"{CHROMIUM} is missing")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("Playwright for Python is not installed (pip install -e '.[test]')")
    return sync_playwright


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _synthetic_notebook():
    """A Text widget whose observer appends to an Output: the comparator's pattern, minimal."""
    nb = new_notebook(cells=[
        new_markdown_cell("# Harness self-check"),
        new_code_cell(
            "import ipywidgets as widgets\n"
            "from IPython.display import HTML\n"
            "box = widgets.Text(value='cat')\n"
            "box.add_class('cc-prompt-input')\n"
            "out = widgets.Output()\n"
            "out.add_class('cc-comparator-output')\n"
            "def show(change):\n"
            "    out.outputs = ()\n"
            "    out.append_display_data(HTML(f'<b>len {len(change[\"new\"])}</b>'))\n"
            "box.observe(show, names='value')\n"
            "show({'new': box.value})\n"
            "widgets.VBox([box, out])"),
    ])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    return nb


WIDGETS = {  # CSS class of each course widget -> the screenshot it goes to
    "cc-temperature-explorer": "temperature_explorer.png",
    "cc-upload-classifier": "upload_classifier.png",
    "cc-prompt-comparator": "prompt_comparator.png",
    "cc-threshold-explorer": "threshold_explorer.png",
    "cc-search-box": "search_box.png",
}
NARROW_PX = 420  # the comparator's column in the widgets notebook
LONG_PROMPT = "a photo of " + "a very, " * 30 + "red circle"


def _widgets_notebook():
    """Every course widget once, on the bundled model; the comparator in a narrow column with a
    prompt longer than the model reads."""
    nb = new_notebook(cells=[
        new_markdown_cell("# The course widgets"),
        new_code_cell(
            "import numpy as np, ipywidgets as widgets\n"
            "import clipcourse as cc\n"
            "model = cc.load_model('tiny-shapes')\n"
            "test = cc.shapes.make_test_set(24, seed=1)\n"
            "images, labels = test.images[::3], test.labels[::3]"),
        new_code_cell(
            "similarity = model.encode_images(images) @ model.encode_texts(\n"
            "    [f'a photo of the {label}' for label in labels]).T\n"
            "cc.widgets.temperature_explorer(similarity[0], labels, model.logit_scale,\n"
            "                                title='image 0')"),
        new_code_cell("cc.widgets.upload_classifier(model, cc.shapes.all_labels())"),
        new_code_cell(
            "comparator = cc.widgets.prompt_comparator(\n"
            f"    model, images[:3], ['red circle', 'a photo of a red circle.', {LONG_PROMPT!r}],\n"
            "    names=labels[:3])\n"
            f"widgets.Box([comparator], layout=widgets.Layout(width='{NARROW_PX}px'))"),
        new_code_cell(
            "rng = np.random.default_rng(0)\n"
            "cc.widgets.threshold_explorer(rng.normal(0.7, 0.05, 100), rng.normal(0.4, 0.1, 100),\n"
            "                              matched_name='shapes', unmatched_name='others')"),
        new_code_cell(
            "import tempfile, pathlib\n"
            "folder = pathlib.Path(tempfile.mkdtemp())\n"
            "for i, (image, label) in enumerate(zip(images, labels)):\n"
            "    image.save(folder / f\"{i}_{label.replace(' ', '_')}.png\")\n"
            "cc.widgets.search_box(cc.search.ImageIndex(model, folder), k=4, query='a red circle')"),
    ])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    return nb


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """A JupyterLab server; yields its base URL and the folder it serves."""
    home = tmp_path_factory.mktemp("lab")
    root = home / "root"
    root.mkdir()
    nbformat.write(_synthetic_notebook(), str(root / "harness.ipynb"))
    nbformat.write(_widgets_notebook(), str(root / "widgets.ipynb"))
    from clipcourse.shapes import ShapeSpec, draw_scene  # a drawing to upload
    draw_scene([ShapeSpec("red", "circle")], image_size=128).save(root / "red_circle.png")
    if LESSON.exists():
        shutil.copy(LESSON, root / LESSON.name)
    settings = home / "settings"
    for name, values in LAB_SETTINGS.items():
        (settings / name).parent.mkdir(parents=True, exist_ok=True)
        (settings / name).write_text(json.dumps(values))

    env = dict(os.environ)
    env.pop("MPLBACKEND", None)  # the kernel's inline backend, as learners have it
    env.update({
        "CLIPCOURSE_MODEL": "tiny-shapes", "CLIPCOURSE_OFFLINE": "1",
        "CLIPCOURSE_CACHE_DIR": str(home / "cache"),
        "JUPYTER_CONFIG_DIR": str(home / "config"), "JUPYTER_DATA_DIR": str(home / "data"),
        "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
        "JUPYTERLAB_SETTINGS_DIR": str(settings),
        "JUPYTERLAB_WORKSPACES_DIR": str(home / "workspaces"),
        "JUPYTER_PLATFORM_DIRS": "1",
        "PYTHONHASHSEED": "0",
    })
    port = _free_port()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    log_path = ARTIFACTS / "jupyterlab.log"
    log = open(log_path, "w")
    command = [
        sys.executable, "-m", "jupyterlab", "--no-browser", "--ServerApp.open_browser=False",
        "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
        # no token, no password: loopback only, and the server lives as long as this module
        "--IdentityProvider.token=", "--ServerApp.password=", f"--ServerApp.root_dir={root}",
        "--ServerApp.terminals_enabled=False", "--LabApp.news_url=",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        "--LabApp.extension_manager=readonly",
    ]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--ServerApp.allow_root=True")  # CI containers run as root
    server = subprocess.Popen(
        command, cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + SERVER_START_S
        while True:
            if server.poll() is not None:
                pytest.fail(f"JupyterLab exited with {server.returncode}; see {log_path}")
            try:
                with urllib.request.urlopen(f"{url}/api/status", timeout=2):
                    break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                if time.monotonic() > deadline:
                    pytest.fail(f"JupyterLab did not answer in {SERVER_START_S} s; see {log_path}")
                time.sleep(0.3)
        yield url, root
    finally:
        server.terminate()  # on SIGTERM the server shuts its kernels down, then exits
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()


@pytest.fixture(scope="module")
def browser(sync_playwright):
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                    args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@contextlib.contextmanager
def _screenshot_on_failure(page, name):
    from playwright.sync_api import Error as PlaywrightError

    try:
        yield
    except BaseException:
        with contextlib.suppress(PlaywrightError):  # a debugging aid; the real error follows
            page.screenshot(path=str(ARTIFACTS / f"{name}-failure.png"), full_page=True)
        raise


# The notebook panel in front (other tabs of the workspace stay in the page, hidden).
PANEL = ".jp-NotebookPanel:not(.lm-mod-hidden)"


def _open_and_run_all(page, url, notebook, timeout_s):
    """Open ``notebook``, wait for its kernel, Run -> Run All Cells, wait until all have run."""
    workspace = re.sub(r"\W", "-", notebook)  # a fresh workspace: no other tabs restored
    page.goto(f"{url}/lab/workspaces/{workspace}/tree/{notebook}")
    page.locator(f"{PANEL} .jp-Cell").first.wait_for(timeout=PAGE_LOAD_S * 1000)
    # Wait for the session: until the toolbar names a kernel, Run All does nothing (the execution
    # indicator already says "idle" then). Once it does, executions queue until the kernel is up.
    page.wait_for_function(
        """(panel) => {
            const name = document.querySelector(panel + ' .jp-Toolbar-kernelName');
            const state = document.querySelector(panel + ' .jp-Notebook-ExecutionIndicator');
            return name && state && !['', 'No Kernel'].includes(name.textContent.trim())
                   && state.getAttribute('data-status') === 'idle';
        }""", arg=PANEL, timeout=PAGE_LOAD_S * 1000)
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Run All Cells$")).click()
    # Every code cell shows "[n]:" once run, "[*]:" while queued or running, "[ ]:" before. Run
    # All stops at the first error, leaving the cells below it "[ ]:".
    page.wait_for_function(
        """(panel) => {
            const prompts = [...document.querySelectorAll(
                panel + ' .jp-CodeCell .jp-InputArea-prompt')].map(p => p.textContent.trim());
            const error = document.querySelector(
                panel + ' .jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]');
            return prompts.length > 0 && (prompts.every(p => /^\\[\\d+\\]:$/.test(p))
                || (error !== null && error.textContent.includes('Traceback')
                    && !prompts.includes('[*]:')));
        }""", arg=PANEL, timeout=timeout_s * 1000)
    errors = page.locator(
        f"{PANEL} .jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']")
    tracebacks = [t for t in errors.all_text_contents() if "Traceback (most recent call last)" in t]
    assert not tracebacks, f"{notebook} raised while running:\n" + "\n".join(tracebacks)


def _shown(page):
    return page.locator(f"{PANEL} .cc-comparator-output").inner_text()


def _type_a_line(page, text):
    """Click into the prompt box, go to its end and type a new line, key by key."""
    box = page.locator(f"{PANEL} .cc-prompt-input").locator("textarea, input").first
    box.click()
    box.press("Control+End")
    box.press_sequentially(text, delay=20)


def test_harness_on_a_synthetic_widget(lab, browser):
    url, _ = lab
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    with _screenshot_on_failure(page, "harness"):
        _open_and_run_all(page, url, "harness.ipynb", timeout_s=30)
        output = page.locator(f"{PANEL} .cc-comparator-output")
        output.get_by_text("len 3").wait_for(timeout=10_000)
        _type_a_line(page, "s and dogs")
        output.get_by_text("len 13").wait_for(timeout=10_000)
    page.close()


def _probabilities(text):
    return re.findall(r"\b[01]\.\d{3}\b", text)


def test_lesson04_prompt_comparator_in_a_browser(lab, browser):
    url, root = lab
    if not (root / LESSON.name).exists():
        pytest.skip(f"{LESSON.name} is not written yet")
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    with _screenshot_on_failure(page, "lesson04"):
        _open_and_run_all(page, url, LESSON.name, timeout_s=RUN_ALL_S)
        comparator = page.locator(f"{PANEL} .cc-comparator-output")
        comparator.locator("table").wait_for(timeout=10_000)
        comparator.scroll_into_view_if_needed()
        before = _shown(page)
        assert _probabilities(before), f"no probabilities shown:\n{before}"

        new_prompt = "a drawing of a purple star"
        _type_a_line(page, "\n" + new_prompt)
        # Each keystroke redraws the table; the header holds the whole prompt after the last one.
        comparator.locator("th", has_text=new_prompt).wait_for(timeout=15_000)
        after = _shown(page)
        assert _probabilities(after) != _probabilities(before), (
            f"the probabilities did not change:\nbefore:\n{before}\nafter:\n{after}")
        assert len(_probabilities(after)) > len(_probabilities(before))  # one more column
        page.screenshot(path=str(ARTIFACTS / "lesson04.png"))
    page.close()


def test_every_widget_in_a_browser(lab, browser):
    """Each course widget renders; the upload button's label and counter fit, and it classifies
    an upload; in a narrow column the comparator keeps bar and number on one line and a long
    prompt's header short. A screenshot of each widget goes to artifacts/browser/."""
    url, root = lab
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    with _screenshot_on_failure(page, "widgets"):
        _open_and_run_all(page, url, "widgets.ipynb", timeout_s=RUN_ALL_S)
        for css, shot in WIDGETS.items():
            widget = page.locator(f"{PANEL} .{css}")
            widget.wait_for(timeout=20_000)
            widget.scroll_into_view_if_needed()
            widget.screenshot(path=str(ARTIFACTS / shot))

        # the upload button: its whole label and its counter show, before and after an upload
        button = page.locator(f"{PANEL} .cc-upload-classifier button").first
        label = button.evaluate(
            "b => ({text: b.innerText, fits: b.scrollWidth <= b.clientWidth + 1})")
        assert "Upload a photo" in label["text"] and "(0)" in label["text"], label
        assert label["fits"], f"the upload button cuts its label: {label}"
        with page.expect_file_chooser() as chooser:
            button.click()
        chooser.value.set_files(str(root / "red_circle.png"))
        page.locator(f"{PANEL} .cc-upload-output").wait_for(timeout=30_000)
        label = button.evaluate(
            "b => ({text: b.innerText, fits: b.scrollWidth <= b.clientWidth + 1})")
        assert "(1)" in label["text"] and label["fits"], label
        assert "red circle" in page.locator(f"{PANEL} .cc-upload-output").inner_text()
        page.locator(f"{PANEL} .cc-upload-classifier").screenshot(
            path=str(ARTIFACTS / "upload_classifier_after_upload.png"))

        # the comparator in a narrow column
        layout = page.locator(f"{PANEL} .cc-comparator-output").evaluate("""(root) => {
            const middle = (e) => { const r = e.getBoundingClientRect(); return r.top + r.height / 2; };
            const bars = [...root.querySelectorAll('.cc-bar')];
            const wrapped = bars.filter(b => Math.abs(middle(b.children[0]) - middle(b.children[1])) > 4);
            const headers = [...root.querySelectorAll('th')].map(th => th.getBoundingClientRect().height);
            const line = parseFloat(getComputedStyle(root).fontSize) * 1.5;
            return {bars: bars.length, wrapped: wrapped.length, tallest: Math.max(...headers),
                    line: line, width: root.getBoundingClientRect().width};
        }""")
        assert layout["bars"] == 9, layout  # 3 images x 3 prompts
        assert layout["width"] <= NARROW_PX + 1, layout
        assert layout["wrapped"] == 0, f"bar and number on two lines: {layout}"
        # 3 lines of prompt and the token count: a long prompt does not make it taller
        assert layout["tallest"] < 6 * layout["line"], f"a header grew tall: {layout}"
    page.close()

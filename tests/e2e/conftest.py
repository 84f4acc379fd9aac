"""Real-browser tier: one JupyterLab and one Voila server per session, headless Debian chromium via Playwright.

Both servers serve a temp root holding private copies of the example notebooks (JupyterLab autosaves what it
opens, so it must never see the repo's own files). Kernels get BATCH_WIDGETS_HOME pointing at a temp data dir and
no OPENAI_* variables, so every BatchClient() in them uses a fresh embedded local server.
"""

from __future__ import annotations

import json
import os
import pathlib
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from types import SimpleNamespace

import pytest

pytest.importorskip("playwright")
from labkit import CHROMIUM_ARGS  # noqa: E402 - after the importorskip above
from playwright.sync_api import sync_playwright  # noqa: E402 - after the importorskip above

REPO = pathlib.Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts"
# The README's screenshots are rewritten only on request (`make screenshots`), so a test run leaves the tree clean.
SCREENSHOTS = REPO / "docs" / "screenshots" if os.environ.get("BW_UPDATE_SCREENSHOTS") else ARTIFACTS / "screenshots"
SCREENSHOTS.mkdir(parents=True, exist_ok=True)
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
# User settings for an isolated JupyterLab: no news or update toasts; every cell stays in the DOM.
LAB_SETTINGS = {
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false", "checkForUpdates": False},
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
}
ROOT_FLAG = ["--allow-root"] if os.geteuid() == 0 else []


def pytest_collection_modifyitems(items):
    here = pathlib.Path(__file__).parent
    for item in items:
        if here in pathlib.Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.e2e)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(cmd: list[str], ready_url: str, log_path: pathlib.Path, env: dict, timeout: float = 120):
    """Start a server in its own process group, wait until ready_url answers 200."""
    log = open(log_path, "w")
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"{cmd[2]} exited with {proc.returncode}:\n{log_path.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(ready_url, timeout=2) as r:
                if r.status == 200:
                    return proc
        except OSError:
            pass
        if time.monotonic() > deadline:
            _stop(proc)
            raise TimeoutError(f"{ready_url} did not answer within {timeout}s")
        time.sleep(0.2)


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()  # jupyter shuts its kernels down on SIGTERM
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)  # only our own process group (start_new_session)
            proc.wait(5)


def _environment(home: pathlib.Path) -> dict:
    settings = home / "settings"
    for rel, value in LAB_SETTINGS.items():
        path = settings / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(value))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "AZURE_OPENAI_", "JUPYTER"))}
    env.update(
        JUPYTER_CONFIG_DIR=str(home / "config"),
        JUPYTER_DATA_DIR=str(home / "data"),
        JUPYTER_RUNTIME_DIR=str(home / "runtime"),
        JUPYTERLAB_SETTINGS_DIR=str(settings),
        JUPYTERLAB_WORKSPACES_DIR=str(home / "workspaces"),
        BATCH_WIDGETS_HOME=str(home / "batch_widgets"),
        PYTHONUNBUFFERED="1",
    )
    return env


def _fill_root(root: pathlib.Path) -> None:
    for nb in (REPO / "notebooks").glob("*.ipynb"):
        shutil.copy(nb, root / nb.name)


@pytest.fixture(scope="session")
def artifacts() -> pathlib.Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


def _jupyter_server(tmp_path_factory, module: str, name: str):
    """Run `python -m <module>` (jupyterlab or notebook) on a free port with a token; yield where it is; stop it."""
    root, home = tmp_path_factory.mktemp(f"{name}_root"), tmp_path_factory.mktemp(f"{name}_home")
    _fill_root(root)
    port, token = _free_port(), secrets.token_hex(16)
    cmd = [
        sys.executable,
        "-m",
        module,
        "--no-browser",
        "--ip=127.0.0.1",
        f"--port={port}",
        "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={root}",
        *ROOT_FLAG,
    ]
    log = home / f"{name}.log"
    t0 = time.perf_counter()
    proc = _start(cmd, f"http://127.0.0.1:{port}/api/status?token={token}", log, _environment(home))
    yield SimpleNamespace(
        url=f"http://127.0.0.1:{port}",
        token=token,
        root=root,
        log=log,
        startup_s=round(time.perf_counter() - t0, 2),
    )
    _stop(proc)


@pytest.fixture(scope="session")
def lab_server(tmp_path_factory):
    yield from _jupyter_server(tmp_path_factory, "jupyterlab", "lab")


@pytest.fixture(scope="session")
def voila_server(tmp_path_factory):
    root, home = tmp_path_factory.mktemp("voila_root"), tmp_path_factory.mktemp("voila_home")
    _fill_root(root)
    port = _free_port()
    # No notebook argument: tree mode, pages at /voila/render/<name>. Voila runs as root without a flag.
    cmd = [
        sys.executable,
        "-m",
        "voila",
        "--no-browser",
        f"--port={port}",
        "--Voila.ip=127.0.0.1",
        "--Voila.port_retries=0",
        f"--Voila.root_dir={root}",
    ]
    t0 = time.perf_counter()
    proc = _start(cmd, f"http://127.0.0.1:{port}/", home / "voila.log", _environment(home))
    yield SimpleNamespace(
        url=f"http://127.0.0.1:{port}", root=root, log=home / "voila.log", startup_s=round(time.perf_counter() - t0, 2)
    )
    _stop(proc)


@pytest.fixture(scope="session")
def marimo_server(tmp_path_factory):
    """`marimo run notebooks/marimo_dashboard.py` (app mode) on a private copy; its kernel's local server keeps
    its data in ``home`` so a test can read the storage the dashboard acts on."""
    root, home = tmp_path_factory.mktemp("marimo_root"), tmp_path_factory.mktemp("marimo_home")
    shutil.copy(REPO / "notebooks" / "marimo_dashboard.py", root / "marimo_dashboard.py")
    port = _free_port()
    cmd = [
        sys.executable,
        "-m",
        "marimo",
        "run",
        str(root / "marimo_dashboard.py"),
        "--headless",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--no-token",
    ]
    env = _environment(home)
    t0 = time.perf_counter()
    proc = _start(cmd, f"http://127.0.0.1:{port}/health", home / "marimo.log", env)
    yield SimpleNamespace(
        url=f"http://127.0.0.1:{port}",
        root=root,
        data=pathlib.Path(env["BATCH_WIDGETS_HOME"]),
        log=home / "marimo.log",
        startup_s=round(time.perf_counter() - t0, 2),
    )
    _stop(proc)


@pytest.fixture(scope="session")
def notebook_server(tmp_path_factory):
    """Jupyter Notebook 7 (the classic-style UI on JupyterLab components), like lab_server."""
    yield from _jupyter_server(tmp_path_factory, "notebook", "nb7")


@pytest.fixture(scope="session")
def browser():
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser):
    """A fresh browser context per test, recording console errors and any request that left loopback."""
    ctx = browser.new_context(viewport={"width": 1360, "height": 900}, accept_downloads=True)
    pg = ctx.new_page()
    pg.console_errors, pg.external_requests = [], []
    pg.on("console", lambda m: m.type == "error" and pg.console_errors.append(m.text))
    pg.on("pageerror", lambda e: pg.console_errors.append(f"pageerror: {e}"))
    local = ("http://127.0.0.1", "ws://127.0.0.1", "data:", "blob:", "about:")
    pg.on("request", lambda r: r.url.startswith(local) or pg.external_requests.append(r.url))
    yield pg
    ctx.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """On a failed test: a screenshot of the page and the server log tail, for the CI artifacts."""
    rep = (yield).get_result()
    funcargs = getattr(item, "funcargs", {})
    pg = funcargs.get("page")
    if rep.when == "call" and rep.failed and pg is not None and not pg.is_closed():
        ARTIFACTS.mkdir(exist_ok=True)
        try:
            pg.screenshot(path=ARTIFACTS / f"FAILED_{item.name}.png")
        except Exception:  # a crashed page must not hide the real failure
            pass
        try:  # kernel-side errors printed in the notebook (tracebacks from widget threads land there)
            stderr = pg.locator("[data-mime-type='application/vnd.jupyter.stderr']").all_inner_texts()
        except Exception:
            stderr = []
        if stderr:
            rep.sections.append(("notebook stderr", "\n".join(stderr)[-6000:]))
        if pg.console_errors:
            rep.sections.append(("browser console errors", "\n".join(pg.console_errors[-30:])))
        for name in ("lab_server", "voila_server", "marimo_server", "notebook_server"):
            if name in funcargs:
                rep.sections.append((f"{name} log", funcargs[name].log.read_text()[-4000:]))

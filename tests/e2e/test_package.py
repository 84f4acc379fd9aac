"""The packages as a user gets them (issue 18): what the sdist and the wheel hold, `twine check`, and the wheel
installed into a fresh virtualenv WITHOUT the dev extra: the CLI answers, importing the package pulls in no test
tool, and BatchDashboard() from that install renders in chromium.

The render check runs the installed package in its own interpreter (a real embedded server, real batches) and
hands the widget's synced state and its bundle (read from the installed files) to the ESM harness page: no
Jupyter server has to be installed into the fresh venv, which keeps this test to about 45 s, most of it pip.
The kernel round trip itself is covered by the JupyterLab, Notebook 7, Voila and marimo tests.
"""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys
import tarfile
import zipfile

import pytest
from conftest import REPO
from layout import layout_problems
from playwright.sync_api import expect

# Never in a user's install: the tools of our own test suite.
TEST_TOOLS = (
    "pytest",
    "_pytest",
    "hypothesis",
    "playwright",
    "nbval",
    "nbclient",
    "schemathesis",
    "jupyterlab",
    "voila",
    "marimo",
    "openai",
    "mypy",
    "ruff",
)


@pytest.fixture(scope="module")
def dist(tmp_path_factory):
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(REPO)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,), (sdist,) = out.glob("*.whl"), out.glob("*.tar.gz")
    return wheel, sdist


def test_sdist_holds_sources_and_nothing_generated(dist):
    _, sdist = dist
    with tarfile.open(sdist) as tar:
        names = [n.split("/", 1)[1] for n in tar.getnames() if "/" in n]
    tops = {n.split("/")[0] for n in names}
    assert {"src", "js", "tests", "notebooks", "README.md", "LICENSE", "pyproject.toml", "package.json"} <= tops, tops
    assert "src/batch_widgets/static/widget.js" in names and "src/batch_widgets/static/widget.css" in names
    generated = (
        "node_modules",
        "tmp",
        "test-artifacts",
        ".venv",
        ".hypothesis",
        "__pycache__",
        ".git",
        "dist",
        ".ipynb_checkpoints",
        ".pytest_cache",
    )
    assert not [n for n in names if set(n.split("/")) & set(generated)], "generated files in the sdist"
    assert sdist.stat().st_size < 5_000_000, sdist.stat().st_size  # node_modules alone made it 21 MB


def test_wheel_holds_the_package_and_the_bundle(dist):
    wheel, _ = dist
    names = zipfile.ZipFile(wheel).namelist()
    assert {n.split("/")[0] for n in names} == {"batch_widgets", "batch_widgets-0.1.0.dist-info"}, names
    for needed in (
        "batch_widgets/static/widget.js",
        "batch_widgets/static/widget.css",
        "batch_widgets/prices.json",
        "batch_widgets/server/cli.py",
        "batch_widgets-0.1.0.dist-info/licenses/LICENSE",
    ):
        assert needed in names, needed
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]


def test_twine_check_passes(dist):
    result = subprocess.run(
        [sys.executable, "-m", "twine", "check", "--strict", *map(str, dist)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.fixture(scope="module")
def fresh(dist, tmp_path_factory):
    """A virtualenv with only the wheel and its runtime dependencies (pip runs from our venv: no ensurepip)."""
    wheel, _ = dist
    venv = tmp_path_factory.mktemp("fresh-venv")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "-q", str(wheel)],
        check=True,
        capture_output=True,
        timeout=600,
    )
    return python


SIZES = """
import importlib.metadata as md, json, os
sizes = {}
for dist in md.distributions():
    total = 0
    for f in dist.files or []:
        try:
            total += os.path.getsize(dist.locate_file(f))
        except OSError:
            pass
    sizes[dist.metadata["Name"].lower()] = total
print(json.dumps(sizes))
"""


def test_installed_without_dev_extra(fresh, artifacts):
    cli = fresh.parent / "batch-widgets"
    result = subprocess.run([str(cli), "serve", "--help"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and "usage" in result.stdout.lower(), result.stdout + result.stderr
    probe = (
        "import sys, batch_widgets; from batch_widgets import BatchDashboard, BatchClient, batch_history; "
        "print(sorted({m.split('.')[0] for m in sys.modules}))"
    )
    loaded = json.loads(
        subprocess.run(
            [str(fresh), "-c", probe], capture_output=True, text=True, check=True, timeout=120
        ).stdout.replace("'", '"')
    )
    assert not set(loaded) & set(TEST_TOOLS), set(loaded) & set(TEST_TOOLS)
    sizes = json.loads(
        subprocess.run([str(fresh), "-c", SIZES], capture_output=True, text=True, check=True, timeout=120).stdout
    )
    assert not set(sizes) & {t.replace("_", "-") for t in TEST_TOOLS} - {"-pytest"}, sorted(sizes)
    assert "altair" not in sizes and "vl-convert-python" not in sizes  # the "charts" extra
    report = "\n".join(f"{name:28s} {size / 1e6:8.1f} MB" for name, size in sorted(sizes.items(), key=lambda x: -x[1]))
    (artifacts / "install-sizes.txt").write_text(f"{report}\n{'total':28s} {sum(sizes.values()) / 1e6:8.1f} MB\n")
    print(f"\nfresh install: {sum(sizes.values()) / 1e6:.0f} MB over {len(sizes)} distributions")


STATE = """
import base64, json, os, sys, tempfile
os.environ["BATCH_WIDGETS_HOME"] = tempfile.mkdtemp(prefix="bw-wheel-")
from batch_widgets import BatchClient, BatchDashboard
from batch_widgets.demo import start_demo_batches

client = BatchClient()
start_demo_batches(client, n_batches=2, requests_per_batch=20)
widget = BatchDashboard(client=client)
state = widget.get_state()
def plain(value):  # binary traits reach the view as DataViews: mark them for the harness
    if isinstance(value, (bytes, memoryview)):
        return {"__bytes__": base64.b64encode(bytes(value)).decode()}
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value
print(json.dumps({k: plain(v) for k, v in state.items()}))
widget.close()
"""

HARNESS = """<!doctype html><html><head><meta charset="utf-8"><style id="bw-css"></style></head>
<body style="margin:0;padding:12px;font-family:sans-serif"><div id="host"></div>
<script type="module">
const state = await (await fetch("/state.json")).json();
const bytes = (v) => v && typeof v === "object" && !Array.isArray(v)
  ? ("__bytes__" in v ? new DataView(Uint8Array.from(atob(v.__bytes__), (c) => c.charCodeAt(0)).buffer)
    : Object.fromEntries(Object.entries(v).map(([k, x]) => [k, bytes(x)]))) : v;
for (const k of Object.keys(state)) state[k] = bytes(state[k]);
document.getElementById("bw-css").textContent = state._css;
const listeners = new Map();
const model = {
  get: (k) => state[k], set: (k, v) => { state[k] = v; (listeners.get(`change:${k}`) || []).forEach((f) => f()); },
  on: (n, f) => listeners.set(n, [...(listeners.get(n) || []), f]), off: () => {}, save_changes: () => {},
  send: (msg) => (window.sent = [...(window.sent || []), msg]),
};
const mod = await import("/widget.js");
const widget = mod.default;
if (widget.initialize) widget.initialize({ model });
widget.render({ model, el: document.getElementById("host") });
</script></body></html>"""


def test_dashboard_from_the_installed_wheel_renders(fresh, browser, artifacts):
    # The bundle as installed: the file inside the fresh venv's site-packages, not the repo's.
    site = subprocess.run(
        [str(fresh), "-c", "import batch_widgets, pathlib; print(pathlib.Path(batch_widgets.__file__).parent)"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout.strip()
    assert "site-packages" in site and not site.startswith(str(REPO / "src")), site
    state = subprocess.run([str(fresh), "-c", STATE], capture_output=True, text=True, timeout=180)
    assert state.returncode == 0, state.stderr[-3000:]
    esm = (pathlib.Path(site) / "static" / "widget.js").read_text()
    routes = {
        "/": ("text/html", HARNESS),
        "/state.json": ("application/json", state.stdout),
        "/widget.js": ("text/javascript", esm),
    }
    ctx = browser.new_context(viewport={"width": 680, "height": 900})
    page = ctx.new_page()
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))

    def serve(route):
        kind, body = routes[route.request.url.removeprefix("http://127.0.0.1:9")]
        route.fulfill(status=200, content_type=kind, body=body)

    page.route("http://127.0.0.1:9/**", serve)
    try:
        page.goto("http://127.0.0.1:9/")
        dash = page.locator(".bw-dashboard")
        expect(dash).to_be_visible(timeout=30_000)
        expect(dash.locator("tr.bw-row")).to_have_count(2)
        assert sorted(dash.locator(".bw-row__name").all_inner_texts()) == [
            "Support ticket triage",
            "Weekly report summaries",
        ]
        assert not layout_problems(dash), layout_problems(dash)
        dash.screenshot(path=artifacts / "wheel-dashboard-680.png")
        assert not errors, errors
    finally:
        ctx.close()

"""The docs: every referenced file exists, the site builds strictly, and
each page renders in a headless browser with all of its images."""

import glob
import os
import re
import shutil
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOCS = os.path.join(ROOT, "docs")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
RESULTS = re.compile(r"benchmarks/results/[\w./*-]*\w")
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")
# Reports each image's decoded width into the DOM once the page has loaded.
PROBE = (
    "<script>window.addEventListener('load', function () {"
    "document.body.setAttribute('data-images', Array.from(document.images)"
    ".map(function (i) { return i.naturalWidth; }).join(','));});</script>"
)


def _pages():
    return sorted(glob.glob(os.path.join(DOCS, "**", "*.md"), recursive=True))


def _needs(tool, found):
    if found:
        return
    message = f"{tool} is not installed (CI installs it)"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


@pytest.mark.parametrize(
    "path", [os.path.join(ROOT, "README.md"), *_pages()], ids=os.path.basename
)
def test_every_referenced_file_exists(path):
    with open(path, encoding="utf-8") as f:
        text = f.read()
    missing = [
        ref
        for ref in RESULTS.findall(text)
        if not glob.glob(os.path.join(ROOT, ref.replace("seedN", "seed*")))
    ]
    base = os.path.dirname(path)
    for link in LINK.findall(text):
        if "://" in link or link.startswith("mailto:"):
            continue
        if not os.path.exists(os.path.normpath(os.path.join(base, link))):
            missing.append(link)
    assert not missing, f"{os.path.relpath(path, ROOT)} refers to {missing}"


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    try:
        import mkdocs  # noqa: F401
    except ImportError:
        _needs("mkdocs (the `docs` extra)", False)
    out = tmp_path_factory.mktemp("site")
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return out


def _render(page, profile):
    with open(page, encoding="utf-8") as f:
        html = f.read()
    probe = page + ".probe.html"
    with open(probe, "w", encoding="utf-8") as f:
        f.write(html.replace("</body>", PROBE + "</body>"))
    done = subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={profile}",
            "--virtual-time-budget=5000",
            "--dump-dom",
            "file://" + probe,
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def test_site_pages_render_with_their_images(site, tmp_path):
    _needs("chromium", CHROMIUM)
    pages = sorted(glob.glob(os.path.join(site, "**", "index.html"),
                             recursive=True))
    pages = [p for p in pages if "assets" not in p and "404" not in p]
    assert len(pages) >= len(_pages())
    for page in pages:
        dom = _render(page, tmp_path / "profile")
        name = os.path.relpath(page, site)
        assert '<article class="md-content__inner' in dom, name
        assert re.search(r"<h1[^>]*>", dom), f"{name} has no title"
        widths = re.search(r'data-images="([^"]*)"', dom)
        assert widths is not None, f"{name} did not finish loading"
        sizes = [int(w) for w in widths.group(1).split(",") if w]
        assert all(sizes), f"{name}: an image did not load ({sizes})"
        if name.startswith("benchmarks"):
            assert len(sizes) >= 3, f"{name} shows {len(sizes)} images"

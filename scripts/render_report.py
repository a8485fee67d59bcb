"""Open a report's HTML in headless Chromium, offline: screenshot, rendered DOM, and every request the page made.

    python scripts/render_report.py REPORT_DIR/report.html --out /tmp/render
    # -> /tmp/render/screenshot.png, dom.html, net-log.json; prints tables / images / page requests

Chromium is started with everything that phones home switched off, and with a host resolver that resolves
nothing, so not even the browser's own background traffic can leave the machine. The net log still records every
request a page starts (before name resolution), so "the page asked for nothing but file: and data: URLs" is
checked from the log, and not only by reading the HTML. Exit status 1 when the page requested anything else or
shows no table or no embedded image.
"""

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from html.parser import HTMLParser
from pathlib import Path

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "chrome")
BASE_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
              "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-extensions",
              "--host-resolver-rules=MAP * ~NOTFOUND", "--hide-scrollbars"]
LOCAL_SCHEMES = ("file:", "data:", "about:", "chrome:")
BROWSER_INITIATED = "not an origin"   # the net log's initiator for the browser's own requests (updates, sign-in)


def find_chromium():
    return next((path for name in CHROMIUM_NAMES if (path := shutil.which(name))), None)


class DomSummary(HTMLParser):
    """Counts tables and embedded images, and collects every URL the document refers to."""

    def __init__(self):
        super().__init__()
        self.tables = 0
        self.data_images = 0
        self.other_images = 0
        self.table_keys = []
        self.urls = []     # (tag, attribute, value)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "table":
            self.tables += 1
            if attrs.get("data-key"):
                self.table_keys.append(attrs["data-key"])
        if tag == "img":
            if (attrs.get("src") or "").startswith("data:image/"):
                self.data_images += 1
            else:
                self.other_images += 1
        for name in ("src", "href", "srcset", "poster", "data", "action"):
            if attrs.get(name):
                self.urls.append((tag, name, attrs[name]))

    def remote_urls(self) -> list:
        """URLs that would leave the machine: absolute http(s), protocol-relative, or any other remote scheme."""
        out = []
        for tag, name, value in self.urls:
            v = value.strip().lower()
            if v.startswith(("http:", "https:", "//", "ftp:", "ws:", "wss:")):
                out.append(f"<{tag} {name}={value[:80]}>")
        return out


def summarize_dom(html_text: str) -> DomSummary:
    summary = DomSummary()
    summary.feed(html_text)
    return summary


def page_requests(net_log: Path) -> list:
    """URLs of the requests a page started (not the browser itself), from a Chromium --log-net-log file."""
    log = json.loads(net_log.read_text(encoding="utf-8", errors="replace"))
    start_job = log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
    urls = []
    for event in log.get("events", []):
        params = event.get("params") or {}
        if event.get("type") == start_job and params.get("url") and params.get("initiator") != BROWSER_INITIATED:
            urls.append(params["url"])
    return urls


def _chromium(binary: str, work: Path, name: str, extra: list, url: str, timeout: int) -> subprocess.CompletedProcess:
    flags = BASE_FLAGS + [f"--user-data-dir={work / ('profile-' + name)}", f"--log-net-log={work / (name + '.json')}"]
    return subprocess.run([binary, *flags, *extra, url], capture_output=True, text=True, timeout=timeout)


def render(html_path: Path, out_dir: Path, width: int = 1400, height: int = 2400, timeout: int = 120) -> dict:
    """Screenshot and DOM of html_path; returns paths, the DOM summary and the page's non-local requests."""
    binary = find_chromium()
    if binary is None:
        raise FileNotFoundError("no chromium binary on PATH (Debian: apt-get install chromium)")
    html_path, out_dir = Path(html_path).resolve(), Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    url = html_path.as_uri()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        shot = _chromium(binary, work, "screenshot", [f"--window-size={width},{height}",
                                                      f"--screenshot={out_dir / 'screenshot.png'}"], url, timeout)
        dom = _chromium(binary, work, "dom", ["--dump-dom", "--virtual-time-budget=2000"], url, timeout)
        requests = []
        for name in ("screenshot", "dom"):
            log = work / f"{name}.json"
            if log.is_file():
                shutil.copy(log, out_dir / f"net-log-{name}.json")
                requests += page_requests(log)
    (out_dir / "dom.html").write_text(dom.stdout, encoding="utf-8")
    summary = summarize_dom(dom.stdout)
    return {"screenshot": out_dir / "screenshot.png", "screenshot_rc": shot.returncode, "dom": dom.stdout,
            "summary": summary, "remote_requests": [u for u in requests if not u.lower().startswith(LOCAL_SCHEMES)],
            "requests": requests}


# Laid out by Chromium in a copy of the page (the report's CSP forbids scripts, so the copy drops it): where each
# header cell of each table ends, and how wide each table's scroll box is against what it shows.
_MEASURE_SCRIPT = """<script>
const out = {};
for (const t of document.querySelectorAll('table[data-key]')) {
  const box = t.parentElement, cols = {};
  for (const th of t.querySelectorAll('thead th')) cols[th.textContent] = Math.round(th.getBoundingClientRect().right);
  out[t.dataset.key] = {viewport: window.innerWidth, box_right: Math.round(box.getBoundingClientRect().right),
                        scroll_width: box.scrollWidth, client_width: box.clientWidth, column_right: cols};
}
const pre = document.createElement('pre'); pre.id = 'mlxclin-measure'; pre.textContent = JSON.stringify(out);
document.body.appendChild(pre);
</script>"""


def measure_tables(html_path: Path, width: int = 1400, timeout: int = 120) -> dict:
    """table key -> {viewport, box_right, scroll_width, client_width, column_right: {header: right edge px}} as
    laid out in a `width`-px window."""
    import html
    import re

    html_path = Path(html_path)
    text = re.sub(r'<meta http-equiv="Content-Security-Policy"[^>]*>', "", html_path.read_text(encoding="utf-8"))
    probe = html_path.with_name(html_path.stem + ".measure.html")
    probe.write_text(text.replace("</body>", _MEASURE_SCRIPT + "</body>"), encoding="utf-8")
    try:
        with tempfile.TemporaryDirectory() as tmp:
            dom = _chromium(find_chromium(), Path(tmp), "measure", [f"--window-size={width},1200", "--dump-dom",
                                                                     "--virtual-time-budget=2000"],
                            probe.resolve().as_uri(), timeout)
    finally:
        probe.unlink()
    found = re.search(r'<pre id="mlxclin-measure">(.*?)</pre>', dom.stdout, re.S)
    if not found:
        raise RuntimeError(f"chromium returned no measurement (exit {dom.returncode}): {dom.stderr[-300:]}")
    return json.loads(html.unescape(found.group(1)))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("html", type=Path)
    parser.add_argument("--out", type=Path, default=Path("render"))
    args = parser.parse_args()
    result = render(args.html, args.out)
    s = result["summary"]
    print(f"screenshot {result['screenshot']} · {s.tables} tables · {s.data_images} embedded images · "
          f"{s.other_images} other images · remote URLs in the DOM: {len(s.remote_urls())} · "
          f"remote requests by the page: {len(result['remote_requests'])}")
    for url in s.remote_urls() + result["remote_requests"]:
        print(f"  remote: {url}")
    ok = s.tables > 0 and s.data_images > 0 and not s.remote_urls() and not result["remote_requests"]
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

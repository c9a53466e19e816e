# -*- coding: utf-8 -*-
# Copyright: (c) 2026, immutable.audit developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""drift.html in a real browser: headless Chromium renders a report of five hosts (the unit tests' fleet),
the test asserts on the DOM after the page's script ran (summary, host order, the filters preset from the URL)
and on the screenshot, and fails on any console message or uncaught error from the page.

Chromium runs with networking features off and a throw-away profile; the page is a local file and
must load nothing else (its Content-Security-Policy forbids it)."""

import os
import re
import subprocess
import sys

import pytest

from ansible_collections.immutable.audit.plugins.plugin_utils import _drift

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "unit", "plugins", "plugin_utils"))
import test_drift  # noqa: E402  pylint: disable=wrong-import-position

CHROMIUM = "/usr/bin/chromium"
pytestmark = pytest.mark.skipif(not os.access(CHROMIUM, os.X_OK),
                                reason="needs Debian's chromium at /usr/bin/chromium (scripts/bootstrap.sh)")
ORDER = ["gone1.example.com", "broken1.example.com", "web1.example.com", "db1.example.com", "ok1.example.com"]
# Chromium logs every console message of a page as "...:INFO:CONSOLE:<line>] "<text>", source: <url>".
CONSOLE = re.compile(r"CONSOLE|Uncaught", re.I)


def _chromium(tmp_path, url, *args):
    profile = tmp_path / ("profile-%d" % len(list(tmp_path.glob("profile-*"))))
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           "--user-data-dir=%s" % profile, "--enable-logging=stderr", "--v=0",
           "--window-size=1280,1600"] + list(args) + [url]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def _console(stderr):
    return [line for line in stderr.splitlines() if CONSOLE.search(line)]


def _sections(dom):
    """(host, attributes) of each host section, in document order."""
    found = []
    for match in re.finditer(r"<section ([^>]*class=\"host [^>]*)>", dom):
        attrs = dict(re.findall(r'([\w-]+)="([^"]*)"', match.group(1)))
        attrs["hidden"] = re.search(r"\shidden(=\"\")?(\s|$)", " " + match.group(1) + " ") is not None
        found.append((attrs["data-host"], attrs))
    return found


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("drift-html")
    path = tmp / "drift.html"
    path.write_text(_drift.to_html(test_drift.fleet()), encoding="utf-8")
    return tmp, "file://" + str(path)


def test_console_errors_would_be_seen(tmp_path):
    """The console check is real: a page with a console message and an uncaught error is caught."""
    bad = tmp_path / "bad.html"
    bad.write_text("<!DOCTYPE html><p>x</p><script>console.error('boom'); notDefined();</script>")
    lines = _console(_chromium(tmp_path, "file://%s" % bad, "--dump-dom").stderr)
    assert any("boom" in line for line in lines) and any("Uncaught" in line for line in lines), lines


def test_rendered_dom_summary_and_order(page, tmp_path):
    _tmp, url = page
    proc = _chromium(tmp_path, url, "--dump-dom")
    dom = proc.stdout
    assert _console(proc.stderr) == []
    assert 'data-js="ready"' in dom  # the script ran to its end
    assert "Showing 5 of 5 hosts" in dom
    assert re.search(r'<form id="filters" class="filters"( onsubmit="return false")?>', dom)  # shown by the script
    assert '<div class="verdict bad" id="verdict">4 of 5 hosts not compliant</div>' in dom
    for key, count in (("hosts", 5), ("compliant", 1), ("drifted", 2), ("failed", 1), ("unreachable", 1)):
        assert '<div class="card %s" id="count-%s"><span class="n">%d</span>' % (key, key, count) in dom
    sections = _sections(dom)
    assert [h for h, _a in sections] == ORDER
    assert not [h for h, a in sections if a["hidden"]]
    # the rule line with < > & is text, not markup
    assert "key=&lt;access&amp;denied&gt;" in dom


def test_filter_from_query_string(page, tmp_path):
    _tmp, url = page
    proc = _chromium(tmp_path, url + "?filter=web1", "--dump-dom")
    assert _console(proc.stderr) == []
    assert "Showing 1 of 5 hosts" in proc.stdout
    sections = dict(_sections(proc.stdout))
    assert not sections["web1.example.com"]["hidden"]
    assert sections["web1.example.com"]["data-filtered"] == "shown"
    for host in ORDER:
        if host != "web1.example.com":
            assert sections[host]["hidden"] and sections[host]["data-filtered"] == "hidden", host


def test_category_filter_from_fragment(page, tmp_path):
    _tmp, url = page
    proc = _chromium(tmp_path, url + "#category=" + "permissions", "--dump-dom")
    assert _console(proc.stderr) == []
    assert "Showing 2 of 5 hosts" in proc.stdout
    sections = dict(_sections(proc.stdout))
    assert [h for h in ORDER if not sections[h]["hidden"]] == ["broken1.example.com", "db1.example.com"]
    rows = re.findall(r'<tr class="finding" data-category="([^"]*)"([^>]*)>', proc.stdout)
    assert rows and all(("hidden" in attrs) == (cat != "permissions") for cat, attrs in rows)


def test_screenshot(page, tmp_path):
    tmp, url = page
    png = tmp / "drift.png"
    proc = _chromium(tmp_path, url, "--screenshot=%s" % png, "--hide-scrollbars")
    assert _console(proc.stderr) == []
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(data) > 10 * 1024, len(data)
    keep = os.environ.get("DRIFT_SCREENSHOT")
    if keep:
        with open(keep, "wb") as handle:
            handle.write(data)

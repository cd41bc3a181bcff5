"""What the browser tests share: Debian's Chromium through Playwright (no browser download); the real
`fervid serve` process they drive comes from served.py.

Skipped locally when Chromium or Playwright is missing; in CI (CI=true) a missing browser is a failure, so the
tests cannot silently vanish. Screenshots go to tests/e2e/ (ignored by git)."""

import importlib.util
import os
import shutil
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SHOTS = Path(__file__).resolve().parents[1] / "e2e"


def require_browser() -> None:
    """Call at module level, before importing playwright."""
    if not Path(CHROMIUM).exists() or importlib.util.find_spec("playwright") is None:
        if os.environ.get("CI"):
            pytest.fail("CI must install chromium and playwright for the browser tests", pytrace=False)
        pytest.skip("chromium or playwright not installed", allow_module_level=True)

# Run before a page's own scripts: what the server's Content-Security-Policy refused (a blocked script, style,
# image, media or WebSocket), in window.cspViolations, for tests to assert none
CSP_WATCH = """window.cspViolations = [];
document.addEventListener("securitypolicyviolation",
  (e) => window.cspViolations.push(`${e.effectiveDirective} ${e.blockedURI}`));"""

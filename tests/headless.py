"""Headless Chromium for the browser tests (Debian's chromium + chromedriver, driven by
selenium); screenshots go under the project's ignored .state folder, for a look by eye."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

CHROMIUM, DRIVER = shutil.which("chromium"), shutil.which("chromedriver")
needs_chromium = pytest.mark.skipif(
    not (CHROMIUM and DRIVER),
    reason="needs Debian's chromium and chromium-driver (.ci/run installs them)",
)
SCREENSHOTS = Path(__file__).resolve().parents[1] / ".state" / "screenshots"


def chromium(profile: Path, size: str = "1400,1600"):  # noqa: ANN201 - a selenium WebDriver
    """A headless Chromium that reaches nothing but what the test opens (and the screenshots'
    folder made: a test on another xdist worker may save one first)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--window-size={size}",
        f"--user-data-dir={profile}",
    ):
        opts.add_argument(flag)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return webdriver.Chrome(service=Service(DRIVER), options=opts)

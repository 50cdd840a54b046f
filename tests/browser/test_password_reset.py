"""A user follows a password-change ticket through the real reset page in Chromium (Debian's chromium and
chromium-driver), served by gunicorn.

Steps, each saved as a screenshot under ``test-artifacts/screenshots/`` (``reset-*.png``): the form with the rules,
a weak password refused with each rule marked, the strong password accepted and the redirect to the result_url with
Auth0's parameters, then the link refused the second time; between the last two, the password grant logs in with
the new password. Skipped without a browser, as the admin walk-through is.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from clients.services import create_client
from core.actors import SYSTEM
from tests.helpers import STRONG_PASSWORD

pytestmark = [pytest.mark.live, pytest.mark.browser]

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
NEW_PASSWORD = "Br0wser!Reset-2026"

if not (CHROMIUM and CHROMEDRIVER):
    pytest.skip(
        "browser tests need Chromium and its driver: apt-get install chromium chromium-driver",
        allow_module_level=True,
    )
webdriver = pytest.importorskip("selenium.webdriver", reason="browser tests need selenium (pip install '.[dev]')")
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support import expected_conditions  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402


@pytest.fixture
def browser() -> Iterator[object]:
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    profile = tempfile.mkdtemp(prefix="chromium-profile-")
    for flag in (
        "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
        "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--window-size=1000,1000", f"--user-data-dir={profile}", "--lang=en-US",
    ):  # fmt: skip
        options.add_argument(flag)
    driver = webdriver.Chrome(service=webdriver.ChromeService(executable_path=CHROMEDRIVER), options=options)
    driver.implicitly_wait(5)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def _shot(driver, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(SCREENSHOTS / f"reset-{name}.png"))


def _submit(driver, password: str) -> None:
    for field in ("password", "password_confirmation"):
        element = driver.find_element(By.ID, field)
        element.clear()
        element.send_keys(password)
    driver.find_element(By.CSS_SELECTOR, "button[type=submit]").click()


def test_a_user_follows_a_ticket_through_the_reset_page(browser, live_server_url, api, connection, new_user):
    driver = browser
    user = new_user(email="reset@example.com")
    app, secret = create_client(name="web", scopes="", connections=[connection.name], actor=SYSTEM)
    result_url = f"{live_server_url}/health"
    response = api.post(
        "/api/v2/tickets/password-change",
        {"user_id": user["user_id"], "result_url": result_url, "includeEmailInRedirect": True},
        format="json",
    )
    assert response.status_code == 201, response.json()
    link = urlsplit(response.json()["ticket"])
    page = f"{live_server_url}{link.path}?{link.query}"

    driver.get(page)
    assert driver.title == "Change your password"
    assert driver.find_element(By.CSS_SELECTOR, "label[for=password]").text == "New password"
    _shot(driver, "01-form")

    _submit(driver, "password1")
    alert = driver.find_element(By.CSS_SELECTOR, "[role=alert]")
    assert "The password was not changed" in alert.text
    unmet = {li.get_attribute("data-code") for li in driver.find_elements(By.CSS_SELECTOR, "li.unmet")}
    met = {li.get_attribute("data-code") for li in driver.find_elements(By.CSS_SELECTOR, "li.met")}
    assert unmet == {"containsAtLeast", "upperCase", "specialCharacters"}
    assert met == {"lengthAtLeast", "lowerCase", "numbers"}
    described = driver.find_element(By.ID, "password").get_attribute("aria-describedby")
    assert described == "password-errors password-rules"
    _shot(driver, "02-weak-password-refused")

    _submit(driver, NEW_PASSWORD)
    # The form posts, the server hashes with bcrypt, then redirects: wait for the
    # navigation instead of reading the URL while the reset page is still shown.
    WebDriverWait(driver, 15).until(expected_conditions.url_contains("/health"))
    landed = urlsplit(driver.current_url)
    assert f"{landed.scheme}://{landed.netloc}{landed.path}" == result_url
    assert parse_qs(landed.query) == {
        "success": ["true"],
        "message": ["You can now login to the application with the new password."],
        "email": ["reset@example.com"],
    }
    _shot(driver, "03-redirected-to-result-url")

    grant = {
        "grant_type": "http://auth0.com/oauth/grant-type/password-realm",
        "client_id": app.client_id,
        "client_secret": secret,
        "realm": connection.name,
        "username": "reset@example.com",
    }
    old = requests.post(f"{live_server_url}/oauth/token", json={**grant, "password": STRONG_PASSWORD}, timeout=10)
    assert old.status_code == 403
    new = requests.post(f"{live_server_url}/oauth/token", json={**grant, "password": NEW_PASSWORD}, timeout=10)
    assert new.status_code == 200, new.text
    assert new.json()["token_type"] == "Bearer"

    driver.get(page)
    assert driver.title == "Link already used"
    assert "has already been used" in driver.find_element(By.TAG_NAME, "p").text
    _shot(driver, "04-link-refused-the-second-time")

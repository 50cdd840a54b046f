"""An operator's walk through the admin in the real Chromium (Debian's chromium and chromium-driver).

Each step saves a screenshot under ``test-artifacts/screenshots/``. Without a browser on the machine the
tests are skipped with a message saying what to install; ``.ci/run`` installs it.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from audit.models import Event
from users.models import User

pytestmark = [pytest.mark.live, pytest.mark.browser]

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"

if not (CHROMIUM and CHROMEDRIVER):
    pytest.skip(
        "browser tests need Chromium and its driver: apt-get install chromium chromium-driver",
        allow_module_level=True,
    )
webdriver = pytest.importorskip("selenium.webdriver", reason="browser tests need selenium (pip install '.[dev]')")
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support import expected_conditions  # noqa: E402
from selenium.webdriver.support.ui import Select, WebDriverWait  # noqa: E402


@pytest.fixture
def browser() -> Iterator[object]:
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    profile = tempfile.mkdtemp(prefix="chromium-profile-")
    for flag in (
        "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
        "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--window-size=1280,1000", f"--user-data-dir={profile}", "--lang=en-US",
    ):  # fmt: skip
        options.add_argument(flag)
    driver = webdriver.Chrome(service=webdriver.ChromeService(executable_path=CHROMEDRIVER), options=options)
    driver.implicitly_wait(5)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture
def admin_server(transactional_db: None) -> Iterator[str]:
    from django.contrib.auth import get_user_model

    from tests.live import gunicorn_server

    get_user_model().objects.create_superuser("operator", "operator@example.com", "Operator!Pass1")
    with gunicorn_server(workers=1, env={"STATIC_FROM_APPS": "true"}) as url:
        yield url


def _shot(driver, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(SCREENSHOTS / f"{name}.png"))


def test_operator_walkthrough(browser, admin_server):
    driver = browser
    driver.get(f"{admin_server}/admin/login/")
    driver.find_element(By.NAME, "username").send_keys("operator")
    driver.find_element(By.NAME, "password").send_keys("Operator!Pass1")
    _shot(driver, "01-sign-in")
    driver.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
    WebDriverWait(driver, 15).until(expected_conditions.title_contains("Directory administration"))
    _shot(driver, "02-signed-in")

    # A connection: strategy first, then its options.
    driver.get(f"{admin_server}/admin/connections/connection/add/")
    Select(driver.find_element(By.NAME, "strategy")).select_by_value("auth0")
    driver.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
    driver.find_element(By.NAME, "name").send_keys("Browser-DB")
    Select(driver.find_element(By.NAME, "password_policy")).select_by_value("good")
    _shot(driver, "03-connection-form")
    driver.find_element(By.NAME, "_save").click()
    WebDriverWait(driver, 15).until(expected_conditions.url_matches(r"/admin/connections/connection/$"))
    assert "Browser-DB" in driver.page_source
    _shot(driver, "04-connection-created")

    # A user with a weak password: the policy error shows on the field.
    driver.get(f"{admin_server}/admin/users/user/add/")
    Select(driver.find_element(By.NAME, "connection")).select_by_visible_text("Browser-DB (auth0)")
    driver.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
    driver.find_element(By.NAME, "email").send_keys("walk@example.com")
    driver.find_element(By.NAME, "password").send_keys("weak")
    driver.find_element(By.NAME, "_save").click()
    error = driver.find_element(By.CSS_SELECTOR, ".field-password .errorlist")
    assert "At least 8 characters in length" in error.text
    _shot(driver, "05-weak-password-refused")
    assert not User.objects.exists()

    # Fixed: the admin lands on the new user.
    driver.find_element(By.NAME, "password").send_keys("Str0ng!Passw0rd")
    driver.find_element(By.NAME, "_save").click()
    WebDriverWait(driver, 15).until(expected_conditions.url_contains("/change/"))
    user = User.objects.get(email="walk@example.com")
    assert driver.current_url.endswith(f"/admin/users/user/{user.pk}/change/")
    assert user.user_id in driver.page_source
    assert user.password_hash not in driver.page_source
    _shot(driver, "06-user-created")

    # Block them from the list.
    driver.get(f"{admin_server}/admin/users/user/")
    driver.find_element(By.CSS_SELECTOR, f"input[name=_selected_action][value='{user.pk}']").click()
    Select(driver.find_element(By.NAME, "action")).select_by_value("block")
    driver.find_element(By.NAME, "index").click()
    WebDriverWait(driver, 15).until(expected_conditions.presence_of_element_located((By.CSS_SELECTOR, ".messagelist")))
    user.refresh_from_db()
    assert user.blocked is True
    _shot(driver, "07-user-blocked")

    # The audit trail shows every step.
    driver.get(f"{admin_server}/admin/audit/event/")
    page = driver.page_source
    for description in ("Create a Connection", "Create a User", "Update a User"):
        assert description in page
    assert Event.objects.filter(actor_kind="admin", actor_id="operator").count() == 3
    _shot(driver, "08-audit-events")

"""The admin toured in the real Chromium, in English and Japanese, at 1280x800 and 1920x1080.

At each size and in each language: the product's name in the header and the title, the dashboard with its chart,
the users, events, clients and jobs lists without horizontal scrolling (neither the page nor the list's own box), a
connection form and a user form refused with all their errors in one round (the name rule in words, typed metadata
kept), and a blocked user marked in the list. Every step saves ``test-artifacts/screenshots/admin-<lang>-<size>-
<step>.png``. Japanese needs a CJK font (Debian's fonts-noto-cjk, which ``.ci/run`` installs) to be legible in the
screenshots; the assertions do not depend on it.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from audit.models import Event
from clients.services import create_client
from connections.services import create_connection
from core.actors import SYSTEM, Actor
from core.schema import validate_payload
from jobs.models import Job, JobStatus, JobType
from tests.helpers import STRONG_PASSWORD
from users.models import User
from users.serializers import CreateUserRequestSerializer
from users.services import create_user

pytestmark = [pytest.mark.live, pytest.mark.browser]

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
SIZES = ((1280, 800), (1920, 1080))
LANGUAGES = ("en", "ja")
LISTS = (
    ("02-users", "users/user"),
    ("03-events", "audit/event"),
    ("04-clients", "clients/client"),
    ("05-jobs", "jobs/job"),
)

if not (CHROMIUM and CHROMEDRIVER):
    pytest.skip(
        "browser tests need Chromium and its driver: apt-get install chromium chromium-driver",
        allow_module_level=True,
    )
webdriver = pytest.importorskip("selenium.webdriver", reason="browser tests need selenium (pip install '.[dev]')")
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support import expected_conditions  # noqa: E402
from selenium.webdriver.support.ui import Select, WebDriverWait  # noqa: E402

# What each language shows for the checks below.
WORDS = {
    "en": {
        "index": "Directory administration",
        "name_rule": "Use only letters (a-z, A-Z) and digits",
        "blocked": "Blocked",
        "chart": "Users created per day",
    },
    "ja": {
        "index": "ディレクトリの管理",
        "name_rule": "英字 (a-z、A-Z) と数字だけを使い",
        "blocked": "ブロック中",
        "chart": "日ごとの作成ユーザー数",
    },
}


@pytest.fixture
def browser() -> Iterator[object]:
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    profile = tempfile.mkdtemp(prefix="chromium-profile-")
    for flag in (
        "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
        "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--window-size=1280,800", f"--user-data-dir={profile}", "--lang=en-US", "--hide-scrollbars",
    ):  # fmt: skip
        options.add_argument(flag)
    driver = webdriver.Chrome(service=webdriver.ChromeService(executable_path=CHROMEDRIVER), options=options)
    driver.implicitly_wait(5)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def _seed() -> dict[str, object]:
    """A directory an operator would see after a month: two connections, a client, users with long addresses
    created over the month, failed logins and sign-ups."""
    database = create_connection(name="Username-Password-Authentication", strategy="auth0", actor=SYSTEM)
    create_connection(name="sms", strategy="sms", actor=SYSTEM)
    client, _secret = create_client(
        name="Backoffice sync",
        scopes="create:users read:users update:users delete:users read:logs read:connections",
        connections=[database.name],
        actor=SYSTEM,
    )
    actor = Actor(kind="client", id=client.client_id, ip="192.0.2.10")
    now = timezone.now()
    for i in range(14):
        body = {
            "connection": database.name,
            "email": f"customer.number-{i}.with-a-rather-long-address@subsidiary.example-company.com",
            "password": STRONG_PASSWORD,
            "name": f"Customer {i}",
            "user_metadata": {"plan": "gold"},
        }
        user = create_user(data=validate_payload(CreateUserRequestSerializer, body), actor=actor)
        User.objects.filter(pk=user.pk).update(created_at=now - timedelta(days=(i * 2) % 29))
    for i in range(3):
        body = {"connection": "sms", "phone_number": f"+8190123456{i:02d}"}
        create_user(data=validate_payload(CreateUserRequestSerializer, body), actor=SYSTEM)
    for kind, description in [("fp", "Wrong email or password."), ("fu", "Wrong email or password."), ("fs", "x")]:
        Event.objects.create(
            type=kind, description=description, actor_kind="anonymous", actor_id="anonymous", ip="198.51.100.4"
        )
    for status, finished in ((JobStatus.FAILED, now), (JobStatus.PENDING, None)):
        Job.objects.create(
            type=JobType.USERS_IMPORT,
            status=status,
            connection=database,
            connection_name=database.name,
            users_file=b"",
            finished_at=finished,
            external_id="nightly-sync-2026-11-30",
        )
    return {"user": User.objects.filter(connection=database).order_by("pk").first()}


@pytest.fixture
def admin_server(transactional_db: None) -> Iterator[tuple[str, dict[str, object]]]:
    from django.contrib.auth import get_user_model

    from tests.live import gunicorn_server

    get_user_model().objects.create_superuser("operator", "operator@example.com", "Operator!Pass1")
    seeded = _seed()
    with gunicorn_server(workers=1, env={"STATIC_FROM_APPS": "true"}) as url:
        yield url, seeded


def _viewport(driver, width: int, height: int) -> None:
    """The page's viewport exactly ``width`` by ``height``, whatever the headless screen allows a window."""
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
    )
    assert driver.execute_script("return [window.innerWidth, window.innerHeight]") == [width, height]


def _no_horizontal_scroll(driver) -> None:
    """Neither the page nor the list's own scrolling box is wider than what the screen shows."""
    page = driver.execute_script(
        "return [document.documentElement.scrollWidth, window.innerWidth, document.documentElement.clientWidth]"
    )
    assert page[0] <= page[1] and page[0] <= page[2], page
    box = driver.execute_script(
        "const r = document.querySelector('#changelist .results'); return r && [r.scrollWidth, r.clientWidth]"
    )
    assert box is not None and box[0] <= box[1], box


def _shot(driver, language: str, size: tuple[int, int], step: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(SCREENSHOTS / f"admin-{language}-{size[0]}x{size[1]}-{step}.png"))


def _sign_in(driver, url: str) -> None:
    driver.get(f"{url}/admin/login/")
    driver.find_element(By.NAME, "username").send_keys("operator")
    driver.find_element(By.NAME, "password").send_keys("Operator!Pass1")
    driver.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
    WebDriverWait(driver, 15).until(expected_conditions.presence_of_element_located((By.ID, "dashboard")))


def test_the_admin_tour_in_both_languages_at_both_sizes(browser, admin_server):
    driver, (url, seeded) = browser, admin_server
    _sign_in(driver, url)
    for language in LANGUAGES:
        driver.add_cookie({"name": "django_language", "value": language})
        words = WORDS[language]
        for size in SIZES:
            _viewport(driver, *size)
            _tour(driver, url, language, size, words, seeded)


def _tour(driver, url: str, language: str, size: tuple[int, int], words: dict[str, str], seeded) -> None:
    # The index: the product's name, API docs instead of "View site", the dashboard and its chart.
    driver.get(f"{url}/admin/")
    assert driver.find_element(By.CSS_SELECTOR, "#site-name a").text == "userdir"
    assert driver.title.endswith("| userdir") and words["index"] in driver.title
    assert driver.find_element(By.ID, "api-docs-link").get_attribute("href").endswith("/api/v2/docs")
    assert "Django" not in driver.find_element(By.ID, "header").text
    assert words["chart"] in driver.find_element(By.ID, "dashboard-creates").text
    assert len(driver.find_elements(By.CSS_SELECTOR, "#dashboard-creates svg rect")) == 30
    assert driver.find_element(By.ID, "dashboard-total-users").text == "17"
    failed_logins = driver.find_elements(By.CSS_SELECTOR, "#dashboard-failed-logins td")
    assert [cell.text for cell in failed_logins] == ["2", "2"]
    _shot(driver, language, size, "01-index")

    # The lists: no horizontal scrolling, key columns only.
    for step, path in LISTS:
        driver.get(f"{url}/admin/{path}/")
        _no_horizontal_scroll(driver)
        _shot(driver, language, size, step)
    driver.get(f"{url}/admin/audit/event/")
    assert driver.find_element(By.CSS_SELECTOR, "#result_list .event-line a[href*='/admin/users/user/']")
    assert driver.find_element(By.CSS_SELECTOR, "#result_list a[href*='/admin/clients/client/']").text == (
        "Backoffice sync"
    )

    # A connection form refused with every error in one round, the name rule in words.
    driver.get(f"{url}/admin/connections/connection/add/?strategy=auth0")
    driver.find_element(By.NAME, "name").send_keys("my connection")
    driver.find_element(By.NAME, "min_length").send_keys("0")
    driver.find_element(By.NAME, "_save").click()
    name_error = driver.find_element(By.CSS_SELECTOR, ".field-name .errorlist").text
    assert words["name_rule"] in name_error and "[a-zA-Z0-9]" not in name_error
    assert driver.find_element(By.CSS_SELECTOR, ".field-min_length .errorlist").text
    _shot(driver, language, size, "06-connection-errors")

    # A user form refused with every error in one round; the metadata box keeps what was typed.
    database = seeded["user"].connection
    driver.get(f"{url}/admin/users/user/add/?connection={database.pk}")
    driver.find_element(By.NAME, "email").send_keys("not-an-address")
    driver.find_element(By.NAME, "password").send_keys("weak")
    driver.find_element(By.NAME, "user_metadata").send_keys('{"plan": "silver"}')
    driver.find_element(By.NAME, "_save").click()
    assert driver.find_element(By.CSS_SELECTOR, ".field-email .errorlist").text
    assert driver.find_element(By.CSS_SELECTOR, ".field-password .errorlist").text
    assert '"plan": "silver"' in driver.find_element(By.NAME, "user_metadata").get_attribute("value")
    _shot(driver, language, size, "07-user-errors")

    # Block a user from the list: the list says so at once.
    user = seeded["user"]
    driver.get(f"{url}/admin/users/user/?q={user.user_id}")
    driver.find_element(By.CSS_SELECTOR, f"input[name=_selected_action][value='{user.pk}']").click()
    Select(driver.find_element(By.NAME, "action")).select_by_value("block")
    driver.find_element(By.NAME, "index").click()
    WebDriverWait(driver, 15).until(expected_conditions.presence_of_element_located((By.CSS_SELECTOR, ".messagelist")))
    assert driver.find_element(By.CSS_SELECTOR, "#result_list .badge-blocked").text == words["blocked"]
    _no_horizontal_scroll(driver)
    _shot(driver, language, size, "08-user-blocked")
    driver.get(f"{url}/admin/users/user/?q={user.user_id}")
    driver.find_element(By.CSS_SELECTOR, f"input[name=_selected_action][value='{user.pk}']").click()
    Select(driver.find_element(By.NAME, "action")).select_by_value("unblock")
    driver.find_element(By.NAME, "index").click()
    WebDriverWait(driver, 15).until(expected_conditions.presence_of_element_located((By.CSS_SELECTOR, ".messagelist")))

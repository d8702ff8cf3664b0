"""The app in a real browser: ``streamlit run dashboards/app.py`` on a free port, opened by headless Debian
chromium through Playwright; sign in, visit every page, save a screenshot of each under docs/screenshots/.
Fails on a Streamlit exception box or an empty page. The server is killed at the end, even on failure."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.dashboards.conftest import PASSWORDS, ROOT, Store

CHROMIUM = "/usr/bin/chromium"
SHOTS = ROOT / "docs" / "screenshots"
PAGES = {
    "monitoring": "Мониторинг обмена",
    "money": "Денежные потоки",
    "analytics": "Аналитика",
    "account": "Лицевой счёт",
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def server(filled: Store, users_file: Path, tmp_path: Path) -> Iterator[str]:
    if not Path(CHROMIUM).exists():
        subprocess.run([str(ROOT / "scripts" / "ensure_debian_packages.sh"), "chromium"], check=True)
    port = _free_port()
    env = dict(os.environ, UNIPAY_DB_URL=filled.url, UNIPAY_USERS=str(users_file))
    log = (tmp_path / "streamlit.log").open("w")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            str(ROOT / "dashboards" / "app.py"),
            "--server.headless",
            "true",
            "--server.address",
            "127.0.0.1",
            "--server.port",
            str(port),
            "--browser.gatherUsageStats",
            "false",
            "--server.fileWatcherType",
            "none",
            "--client.toolbarMode",
            "viewer",
        ],
        cwd=tmp_path,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, (tmp_path / "streamlit.log").read_text()
            try:
                if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).read() == b"ok":
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, "streamlit did not start in 60 s"
            time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        log.close()


def _settle(page, title: str) -> None:  # type: ignore[no-untyped-def]
    page.wait_for_selector(f'h1:has-text("{title}")', timeout=30_000)
    page.wait_for_selector('[data-testid="stApp"][data-test-script-state="notRunning"]', timeout=60_000)
    page.wait_for_timeout(700)  # charts finish drawing


def _check(page, title: str) -> None:  # type: ignore[no-untyped-def]
    errors = page.locator('[data-testid="stException"]')
    assert errors.count() == 0, errors.first.inner_text()
    main = page.locator('[data-testid="stMain"]').inner_text()
    assert title in main and len(main) > 100, f"empty page: {main!r}"


def _shot(page, name: str) -> None:  # type: ignore[no-untyped-def]
    """A screenshot of the whole page (Streamlit scrolls inside its main block: grow the viewport)."""
    height = page.evaluate(
        "() => Math.max(...[...document.querySelectorAll("
        "'[data-testid=stMain], [data-testid=stMainBlockContainer]')].map(e => e.scrollHeight))"
    )
    page.set_viewport_size({"width": 1440, "height": min(max(int(height) + 60, 900), 9000)})
    page.wait_for_timeout(500)
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)
    page.set_viewport_size({"width": 1440, "height": 900})


def _nav_titles(nav) -> list[str]:  # type: ignore[no-untyped-def]
    """The page titles in the sidebar (each link's text also carries its icon's ligature name)."""
    return [t.split("\n")[-1].strip() for t in nav.get_by_role("link").all_inner_texts()]


def _login(page, url: str, login: str) -> None:  # type: ignore[no-untyped-def]
    page.goto(url, wait_until="networkidle")
    _settle(page, "Вход")
    page.get_by_label("Пользователь").fill(login)
    page.get_by_label("Пароль").fill(PASSWORDS[login])
    page.get_by_role("button", name="Войти").click()
    page.wait_for_selector('[data-testid="stSidebarNav"]', timeout=30_000)


@pytest.mark.parametrize("filled", ["sqlite"], indirect=True)
def test_every_page_in_chromium(server: str, filled: Store) -> None:
    from playwright.sync_api import sync_playwright

    assert shutil.which("chromium") or Path(CHROMIUM).exists()
    number = filled.scalar(
        "SELECT MIN(a.number) FROM accounts a JOIN payments p ON p.account_id = a.id "
        "JOIN opening_debts d ON d.account_id = a.id"
    )
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
        )
        try:
            page = browser.new_page(viewport={"width": 1440, "height": 900}, locale="ru-RU")
            page.goto(server, wait_until="networkidle")
            _settle(page, "Вход")
            _check(page, "Вход")
            _shot(page, "login")
            _login(page, server, "director")
            nav = page.locator('[data-testid="stSidebarNav"]')
            assert _nav_titles(nav) == list(PAGES.values())
            for key, title in PAGES.items():
                nav.get_by_role("link", name=title).click()
                _settle(page, title)
                if key == "account":
                    page.get_by_label("Номер л/с, ЕЛС, штрихкод квитанции или адрес").fill(str(number))
                    page.keyboard.press("Enter")
                    page.wait_for_selector('[data-testid="stTab"]', timeout=30_000)
                    _settle(page, title)
                _check(page, title)
                assert page.locator('[data-testid="stMetric"]').count() > 0
                assert page.locator('[data-testid="stDataFrame"]').count() > 0
                _shot(page, key)
            # a provider's session: no monitoring page, its own money only
            page.get_by_role("button", name="Выйти").click()
            _settle(page, "Вход")
            _login(page, server, "vodokanal")
            nav = page.locator('[data-testid="stSidebarNav"]')
            assert _nav_titles(nav) == ["Денежные потоки", "Аналитика", "Лицевой счёт"]
            nav.get_by_role("link", name="Денежные потоки").click()
            _settle(page, "Денежные потоки")
            _check(page, "Денежные потоки")
            assert "Только деньги поставщика" in page.locator('[data-testid="stMain"]').inner_text()
            _shot(page, "money_provider")
        finally:
            browser.close()

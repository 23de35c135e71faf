"""End to end: ``streamlit run app.py`` on a free port, driven by Debian's chromium (Playwright).

Never skipped: without ``/usr/bin/chromium`` these tests fail and say how to install it
(``make browser``, which ``make test`` runs). Playwright's own browsers are never
downloaded: the system chromium is launched through ``executable_path``.

Screenshots of the main states are saved in ``docs/`` (shown in the README).
The helpers here are shared with ``tests/e2e_latency.py``.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

import pytest

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "corpus"
DOCS = ROOT / "docs"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
QUESTION_INPUT = 'input[aria-label="Votre question"]'
CARD = ".ckb-card"

pytestmark = pytest.mark.e2e


# ----------------------------------------------------------------------------- helpers


def require_chromium() -> None:
    if not Path(CHROMIUM).is_file():
        pytest.fail(
            f"{CHROMIUM} introuvable : installez Debian's chromium (`make browser`, ou "
            "`apt-get install -y chromium`). Ce test ne doit pas être sauté.",
            pytrace=False,
        )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def streamlit_server(index: Path, corpus: Path, *, feedback: Path | None = None, log: Path | None = None, timeout: float = 120.0, app: Path = ROOT / "app.py"):
    """``streamlit run app.py`` on a free local port; yields its URL, stops it afterwards."""
    port = free_port()
    env = {
        **os.environ,
        "CHATKB_INDEX": str(index),
        "CHATKB_CORPUS": str(corpus),
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "PYTHONUNBUFFERED": "1",
    }
    if feedback is not None:
        env["CHATKB_FEEDBACK"] = str(feedback)
    cmd = [
        sys.executable, "-m", "streamlit", "run", str(app),
        "--server.port", str(port), "--server.address", "127.0.0.1", "--server.headless", "true",
        "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none", "--server.runOnSave", "false",
    ]
    out = open(log, "wb") if log else subprocess.DEVNULL
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"streamlit s'est arrêté (code {proc.returncode}) ; voir {log}")
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"streamlit ne répond pas sur {url}")
            time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if log:
            out.close()


def launch_chromium(playwright):
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


def wait_idle(page, timeout: float = 120_000) -> None:
    """Wait until the script run is over (Streamlit's "running" indicator gone) and nothing is stale."""
    page.wait_for_function(
        """() => !document.querySelector('[data-testid="stStatusWidget"]')
                 && !document.querySelector('[data-stale="true"]')""",
        timeout=timeout,
        polling=100,
    )


def open_page(context, url: str, *, card_timeout: float = 120_000):
    page = context.new_page()
    page.goto(url)
    page.wait_for_selector(QUESTION_INPUT, timeout=card_timeout)
    return page


def first_card_text(page) -> str:
    return page.locator(CARD).first.inner_text()


def expected_top(kb, question: str) -> str:
    """The top answer's first question, as the library ranks it (what the page must show first)."""
    return kb.search(question, k=1).hits[0].thread.questions[0].text


# ----------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def app_url(real_index, tmp_path_factory):
    """The page served by ``streamlit run`` on copies of the session index and of the corpus."""
    require_chromium()
    tmp = tmp_path_factory.mktemp("e2e")
    corpus, index = tmp / "corpus", tmp / "index"
    shutil.copytree(CORPUS, corpus)
    shutil.copytree(real_index, index, ignore=shutil.ignore_patterns("feedback.sqlite3*", ".lock"))
    with streamlit_server(index, corpus, feedback=tmp / "feedback.sqlite3", log=tmp / "streamlit.log") as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = launch_chromium(p)
        yield b
        b.close()


@pytest.fixture
def context(browser, app_url):
    ctx = browser.new_context(viewport={"width": 1280, "height": 900}, locale="fr-FR")
    ctx.grant_permissions(["clipboard-read", "clipboard-write"], origin=app_url)
    yield ctx
    ctx.close()


# ----------------------------------------------------------------------------- tests


def test_chromium_is_debian_s(browser):
    assert Path(CHROMIUM).is_file()
    assert browser.version  # launched through executable_path, not a Playwright download


def test_type_question_press_enter_and_see_the_answer(context, app_url, real_kb):
    page = open_page(context, app_url)
    page.fill(QUESTION_INPUT, "homonymes google")
    page.press(QUESTION_INPUT, "Enter")
    page.wait_for_selector(f"{CARD} >> text=Jean Martin", timeout=60_000)
    wait_idle(page)
    assert expected_top(real_kb, "homonymes google") in first_card_text(page).replace("\n", " ")
    assert "q=homonymes+google" in page.url or "q=homonymes%20google" in page.url  # kept in the URL
    assert page.locator("mark", has_text="Google").count() >= 1

    page.fill(QUESTION_INPUT, "linkedin ou viadeo")
    page.press(QUESTION_INPUT, "Enter")
    page.wait_for_function(
        "() => document.querySelector('.ckb-card') && document.querySelector('.ckb-card').innerText.includes('Viadeo')",
        timeout=60_000,
    )
    wait_idle(page)
    assert "Viadeo" in first_card_text(page)
    page.screenshot(path=str(DOCS / "screenshot-answer.png"))


def test_copy_button_puts_the_plain_answer_in_the_clipboard(context, app_url, real_kb):
    from chatkb.page import answer_plain

    question = "quelle longueur pour un cv"
    page = open_page(context, f"{app_url}/?q={quote(question)}")
    page.wait_for_selector(CARD, timeout=60_000)
    wait_idle(page)
    hit = real_kb.search(question, k=1).hits[0]
    expected = answer_plain(hit.thread, hit.source.format)
    button = page.locator("button.ckb-copy").first
    assert button.get_attribute("data-copy") == expected
    button.click()
    page.wait_for_function("() => document.querySelector('button.ckb-copy').textContent.includes('Copié')", timeout=10_000)
    assert page.evaluate("navigator.clipboard.readText()") == expected
    assert "**" not in expected and "une page" in expected  # plain text, not Markdown


def test_opening_a_q_url_shows_its_answers(context, app_url):
    page = open_page(context, f"{app_url}/?q={quote('homonymes google')}")
    page.wait_for_selector(f"{CARD} >> text=Jean Martin", timeout=60_000)
    assert page.input_value(QUESTION_INPUT) == "homonymes google"
    assert page.locator(CARD).count() == 5
    wait_idle(page)
    # "Voir dans la conversation": the thread among the exchanges before and after it.
    page.get_by_text("Voir dans la conversation").first.click()
    page.wait_for_selector(".ckb-context .ckb-current", timeout=60_000)
    wait_idle(page)
    context = page.locator(".ckb-context").first
    assert context.locator(".ckb-turn").count() >= 3
    assert "Jean Martin" in context.locator(".ckb-current").inner_text()
    page.locator(".ckb-context").first.evaluate("e => e.scrollIntoView({block: 'start'})")
    page.screenshot(path=str(DOCS / "screenshot-context.png"))


def test_off_topic_question_is_declined_in_the_browser(context, app_url):
    page = open_page(context, f"{app_url}/?q={quote('recette de la tarte aux pommes')}")
    page.wait_for_selector("text=Aucune réponse suffisamment proche dans la base", timeout=60_000)
    page.wait_for_selector(CARD)
    wait_idle(page)
    assert page.locator(".ckb-far").count() == page.locator(CARD).count() > 0
    page.screenshot(path=str(DOCS / "screenshot-decline.png"))


def test_sidebar_with_upload_preview(context, app_url, tmp_path):
    sample = tmp_path / "portage-salarial.txt"
    sample.write_text(
        "Bonjour à toutes et à tous, nous avons le plaisir d'accueillir Marie Durand, consultante Apec, pour répondre à vos questions sur le portage salarial.\n"
        "Paul : Qu'est-ce que le portage salarial exactement ?\n"
        "Le portage salarial est une relation tripartite entre une société de portage, un consultant porté et une entreprise cliente.\n"
        "Sophie B. : Combien coûtent les frais de gestion d'une société de portage ?\n"
        "Comptez en général entre 5 et 10 % du chiffre d'affaires facturé.\n",
        encoding="utf-8",
    )
    page = open_page(context, f"{app_url}/?q={quote('comment être visible sur internet')}")
    page.wait_for_selector(CARD, timeout=60_000)
    sidebar = page.locator('[data-testid="stSidebar"]')
    assert "Fichiers" in sidebar.inner_text() and "Jean-Christophe Anna" in sidebar.inner_text()
    sidebar.locator('input[type="file"]').set_input_files(str(sample))
    page.wait_for_selector("text=Ajouter à la base", timeout=60_000)
    wait_idle(page)
    assert "2 fil(s)" in sidebar.inner_text()
    page.set_viewport_size({"width": 1280, "height": 1350})  # the whole sidebar, preview included
    wait_idle(page)
    page.screenshot(path=str(DOCS / "screenshot-sidebar.png"))

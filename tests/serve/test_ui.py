"""The web UI in a real browser: Playwright drives Debian's Chromium (headless, no network).

Screenshots are kept as test artifacts in build/test-artifacts/ (or $POCKETGPT_TEST_ARTIFACTS).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.browser

CHROMIUM = os.environ.get("POCKETGPT_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ARTIFACTS = Path(os.environ.get("POCKETGPT_TEST_ARTIFACTS", Path(__file__).resolve().parents[2] / "build" / "test-artifacts"))


@pytest.fixture(scope="module")
def browser_context(tmp_path_factory):
    if not Path(CHROMIUM).exists():  # `make test` installs it; say so instead of skipping silently
        pytest.fail(f"{CHROMIUM} is missing: run `make browser` (or apt-get install -y chromium)")
    from playwright.sync_api import sync_playwright

    profile = tmp_path_factory.mktemp("chromium-profile")  # a new, empty user data dir
    with sync_playwright() as p:
        ctx = p.chromium.launch_persistent_context(str(profile), executable_path=CHROMIUM, headless=True, args=ARGS,
                                                   viewport={"width": 1280, "height": 800})
        yield ctx
        ctx.close()
    shutil.rmtree(profile, ignore_errors=True)


def test_chat_streams_and_token_inspector_shows_probabilities(browser_context, server):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page = browser_context.new_page()
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(server.url + "/")
    page.wait_for_selector(".column")
    # A base and an assistant are loaded: side by side by default, each in its own mode.
    cols = page.locator(".column")
    assert cols.count() == 2
    assert cols.nth(0).get_attribute("data-model") == "sft"
    assert cols.nth(0).locator(".mode").input_value() == "chat"
    assert cols.nth(1).locator(".mode").input_value() == "complete"

    page.click("#settings-toggle")
    page.fill("#seed", "7")  # a seed whose random-model reply has ~30 tokens
    page.fill("#system", "Be brief.")
    # Count DOM updates of the reply to see it arrive in pieces, not all at once.
    page.evaluate("""() => { window.__updates = 0;
        new MutationObserver(() => window.__updates++).observe(document.querySelector('#columns'),
            {subtree: true, childList: true, characterData: true}); }""")
    page.fill("#input", "Who are you?")
    page.keyboard.press("Enter")
    page.wait_for_function("document.querySelectorAll('.msg.assistant').length == 2 && "
                           "!document.querySelector('.msg.streaming')", timeout=30_000)
    assert not page.locator(".msg .error").count(), page.locator(".msg .error").all_inner_texts()
    chat_reply = cols.nth(0).locator(".msg.assistant .text").inner_text()

    # The same request through the API gives the same text: the UI showed the streamed reply.
    temp, top_p = float(page.input_value("#temperature")), float(page.input_value("#top-p"))
    api = httpx.post(server.url + "/v1/chat/completions", json={
        "model": "sft", "seed": 7, "temperature": temp, "top_p": top_p,
        "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Who are you?"}]},
        timeout=60).json()
    assert chat_reply == api["choices"][0]["message"]["content"]
    n_tokens = api["usage"]["completion_tokens"]
    assert chat_reply and n_tokens > 5
    assert page.evaluate("window.__updates") > 4 + n_tokens // 2

    page.click("#inspect")
    chips = cols.nth(0).locator(".chips.reply .tok.gen")
    assert chips.count() >= 1
    prompt_chips = cols.nth(0).locator(".chips.prompt .tok")
    assert prompt_chips.count() == len(httpx.post(server.url + "/v1/tokenize", json={"messages": [
        {"role": "system", "content": "Be brief."}, {"role": "user", "content": "Who are you?"}]}).json()["tokens"])
    assert cols.nth(0).locator(".chips.prompt .tok.special").first.inner_text() == "<|endoftext|>"
    chips.first.click()
    pop = page.locator("#popover")
    pop.wait_for(state="visible")
    prob = float(chips.first.get_attribute("data-prob"))
    assert f"p = {100 * prob:.2f}%" in pop.locator(".prob").inner_text()
    assert pop.locator("tr").count() == 1 + 5  # header + top-5 alternatives
    page.screenshot(path=str(ARTIFACTS / "serve-ui.png"), full_page=True)

    # Keep chatting past the 64-token context: the page drops the oldest turns instead of failing.
    page.click("#inspect")
    for i, q in enumerate(["Tell me more.", "And then?", "Why?"]):
        page.fill("#input", q)
        page.keyboard.press("Enter")
        page.wait_for_function(f"document.querySelectorAll('.msg.assistant').length == {2 * (i + 2)} && "
                               "!document.querySelector('.msg.streaming')", timeout=30_000)
    assert not page.locator(".msg .error").count(), page.locator(".msg .error").all_inner_texts()
    assert "oldest turn" in " ".join(cols.nth(0).locator(".msg.assistant .meta").all_inner_texts())

    page.click("#new-chat")
    assert page.locator(".msg").count() == 0
    assert not errors, errors


def test_phone_width_layout(browser_context, server):
    page = browser_context.new_page()
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(server.url + "/")
    page.wait_for_selector(".column")
    page.fill("#input", "Hello!")
    page.keyboard.press("Enter")
    page.wait_for_function("document.querySelectorAll('.msg.assistant').length == 2 && "
                           "!document.querySelector('.msg.streaming')", timeout=30_000)
    assert page.evaluate("document.scrollingElement.scrollWidth") <= 390  # nothing scrolls sideways
    boxes = [page.locator(".column").nth(i).bounding_box() for i in range(2)]
    assert boxes[1]["y"] >= boxes[0]["y"] + boxes[0]["height"] - 1  # the two answers stack
    assert page.locator("#send").bounding_box()["x"] + page.locator("#send").bounding_box()["width"] <= 390
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "serve-ui-phone.png"), full_page=True)


def test_page_asks_for_the_api_key_and_then_chats(browser_context, keyed_server):
    page = browser_context.new_page()
    page.goto(keyed_server.url + "/")
    page.wait_for_selector("#banner.error")
    assert "API key" in page.inner_text("#banner") and page.is_visible("#api-key")
    page.fill("#api-key", "k3y")
    page.locator("#api-key").blur()  # the browser fires "change" on blur
    page.wait_for_selector(".column")
    page.locator("#api-key").focus()
    page.locator("#api-key").blur()  # no new value: must not reload and wipe the chat
    assert page.locator(".column").count() == 1 and not page.is_visible("#banner")
    page.fill("#input", "Hello!")
    page.keyboard.press("Enter")
    page.wait_for_function("document.querySelectorAll('.msg.assistant').length == 1 && "
                           "!document.querySelector('.msg.streaming')", timeout=30_000)
    assert not page.locator(".msg .error").count(), page.locator(".msg .error").all_inner_texts()
    assert "tokens" in page.locator(".msg.assistant .meta").inner_text()

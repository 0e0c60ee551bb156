"""The memory browser in real headless Chromium against a real server.

Debian's chromium (``make services`` installs it) is driven by Playwright; the browser
starts with a fresh profile and no network use of its own. Every page the tests visit
is saved as a screenshot in the test's temporary directory.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright

from .conftest import Service, start_service, stop_service

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """A server with two users of acme and one of globex."""
    store = tmp_path_factory.mktemp("browser") / "store"
    keys = {"acme": ("acme",), "reader": ("acme", "--read-only"), "globex": ("globex",)}
    running = start_service(store, keys=keys)
    with running.client("acme") as acme:
        acme.post(
            "/v1/users/alice/exchanges",
            json={
                "conversation_id": "kitchen",
                "user_message": "I'm allergic to peanuts, so no satay please.",
                "assistant_message": "Understood, no peanuts.",
            },
        )
        for text in ("Lives in Porto", "Plays the cello on weekends", "Works at Acme"):
            acme.post("/v1/users/alice/memories", json={"content": text})
        acme.post("/v1/users/bob/memories", json={"content": "Likes rock music"})
    with running.client("globex") as globex:
        globex.post("/v1/users/gina/memories", json={"content": "globex only"})
    try:
        yield running
    finally:
        stop_service(running)


@pytest.fixture(scope="module")
def chromium(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Browser]:
    if shutil.which(CHROMIUM) is None:
        pytest.fail("chromium is not installed: `make services` installs it")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS
        )
        yield browser
        browser.close()


@pytest.fixture
def context(chromium: Browser) -> Iterator[BrowserContext]:
    """A fresh browser profile: no cookies."""
    fresh = chromium.new_context()
    yield fresh
    fresh.close()


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("screenshots")


def sign_in(page: Page, site: Service, key: str) -> None:
    page.goto(f"{site.url}/ui")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    page.get_by_label("API key").fill(site.keys[key])
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Users")).to_be_visible()


def test_list_search_history_edit_and_delete(
    site: Service, context: BrowserContext, screenshots: Path
) -> None:
    page = context.new_page()
    page.goto(f"{site.url}/ui")
    page.get_by_label("API key").fill("ms_0123456789abcdef_" + "A" * 43)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("unknown API key")
    page.screenshot(path=screenshots / "sign-in.png", full_page=True)

    sign_in(page, site, "acme")
    expect(page.get_by_role("link", name="alice", exact=True)).to_be_visible()
    expect(page.get_by_role("link", name="bob", exact=True)).to_be_visible()
    expect(page.get_by_role("link", name="gina")).to_have_count(0)
    page.screenshot(path=screenshots / "users.png", full_page=True)

    page.get_by_role("link", name="alice", exact=True).click()
    expect(page.get_by_role("heading", name="Memories of alice")).to_be_visible()
    rows = page.locator("tbody tr")
    expect(rows.first).to_contain_text("Works at Acme")  # newest first
    expect(page.get_by_text("peanuts", exact=False).first).to_be_visible()
    page.screenshot(path=screenshots / "user.png", full_page=True)
    with page.expect_download() as download:
        page.get_by_role("link", name="Export as JSON").click()
    exported = json.loads(Path(download.value.path()).read_text(encoding="utf-8"))
    assert exported["user_id"] == "alice" and len(exported["memories"]) == 4
    assert exported["conversations"][0]["conversation_id"] == "kitchen"

    page.get_by_label("Search memories").fill("what foods must she avoid?")
    page.get_by_label("Search memories").press("Enter")
    expect(page.get_by_role("heading", name="results for")).to_be_visible()
    first = page.locator("tbody tr").first
    expect(first).to_contain_text("peanuts")
    headers = page.locator("thead th").all_inner_texts()
    assert headers[:8] == [
        "Memory", "Kind", "Created", "Score", "Keyword rank", "Vector rank", "Similarity",
        "Recency",
    ]  # fmt: skip
    assert float(first.locator("td").nth(3).inner_text()) > 0
    page.screenshot(path=screenshots / "search.png", full_page=True)

    first.get_by_role("link", name="History").click()
    expect(page.get_by_role("heading", name="Memory", exact=True)).to_be_visible()
    expect(page.get_by_role("heading", name="Source conversation")).to_be_visible()
    expect(page.get_by_role("list", name="Messages of kitchen")).to_contain_text("no satay please")
    expect(page.locator("tbody tr").first).to_contain_text("current")
    page.screenshot(path=screenshots / "memory.png", full_page=True)
    memory_id = page.locator("dd code").inner_text()

    page.get_by_label("Content").fill("Allergic to peanuts and cashews")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status")).to_have_text("Saved.")
    expect(page.locator("dd.content")).to_have_text("Allergic to peanuts and cashews")
    with site.client("acme") as api:
        stored = api.get(f"/v1/users/alice/memories/{memory_id}").json()
    assert stored["content"] == "Allergic to peanuts and cashews"

    page.get_by_role("link", name="Memories of alice").click()
    target = page.locator("tbody tr", has_text="Plays the cello")
    target_id = target.get_attribute("data-memory")
    page.once("dialog", lambda dialog: dialog.dismiss())  # changing one's mind keeps it
    target.get_by_role("button", name="Delete this memory").click()
    expect(page.locator("tbody tr", has_text="Plays the cello")).to_have_count(1)
    page.once("dialog", lambda dialog: dialog.accept())
    target.get_by_role("button", name="Delete this memory").click()
    expect(page.get_by_role("status")).to_have_text("Memory deleted.")
    expect(page.locator("tbody tr", has_text="Plays the cello")).to_have_count(0)
    with site.client("acme") as api:
        assert api.get(f"/v1/users/alice/memories/{target_id}").status_code == 404


def test_deleting_a_user_needs_its_id_typed_and_shows_a_receipt(
    site: Service, context: BrowserContext, screenshots: Path
) -> None:
    page = context.new_page()
    sign_in(page, site, "acme")
    page.goto(f"{site.url}/ui/users/bob")
    button = page.get_by_role("button", name="Delete user")
    confirm = page.get_by_label("Type the user id to confirm")
    expect(button).to_be_disabled()
    confirm.fill("bo")
    expect(button).to_be_disabled()
    confirm.fill("bob")
    expect(button).to_be_enabled()
    page.screenshot(path=screenshots / "delete-user.png", full_page=True)
    button.click()
    expect(page.get_by_role("heading", name="User deleted")).to_be_visible()
    expect(page.locator(".receipt-hash")).to_have_text(re.compile("^[0-9a-f]{64}$"))
    expect(page.locator("main")).not_to_contain_text("rock music")
    page.screenshot(path=screenshots / "receipt.png", full_page=True)
    with site.client("acme") as api:
        assert api.get("/v1/users/bob/memories").status_code == 404


def test_a_mismatched_confirmation_deletes_nothing(site: Service) -> None:
    # The server checks the typed id itself, whatever the page's script does.
    with httpx.Client(base_url=site.url, cookies={"multisession_key": site.keys["acme"]}) as raw:
        refused = raw.post("/ui/users/alice/delete", data={"confirm": "alic"})
    assert refused.status_code == 400 and "did not match" in refused.text
    with site.client("acme") as api:
        assert api.get("/v1/users/alice/memories").json()["total"] >= 3


def test_the_browser_keeps_to_the_key_s_tenant_and_scope(
    site: Service, context: BrowserContext, screenshots: Path
) -> None:
    page = context.new_page()
    sign_in(page, site, "globex")
    response = page.goto(f"{site.url}/ui/users/alice")
    assert response is not None and response.status == 404
    expect(page.get_by_role("heading")).to_contain_text("unknown user 'alice'")
    page.screenshot(path=screenshots / "not-found.png", full_page=True)

    reader = context.browser.new_context() if context.browser else None
    assert reader is not None
    try:
        page = reader.new_page()
        sign_in(page, site, "reader")
        page.goto(f"{site.url}/ui/users/alice")
        expect(page.get_by_role("heading", name="Memories of alice")).to_be_visible()
        expect(page.get_by_role("button", name="Delete this memory")).to_have_count(0)
        expect(page.get_by_role("button", name="Delete user")).to_have_count(0)
    finally:
        reader.close()


def test_pages_work_from_the_keyboard(site: Service, context: BrowserContext) -> None:
    page = context.new_page()
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    sign_in(page, site, "acme")
    page.goto(f"{site.url}/ui/users/alice")
    page.keyboard.press("Tab")
    expect(page.locator(":focus")).to_have_text("Skip to content")
    page.get_by_label("Search memories").focus()
    page.keyboard.type("cello")
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="results for")).to_be_visible()
    for field in page.locator("input:not([type=hidden]), textarea").all():
        field_id = field.get_attribute("id")
        assert field_id and page.locator(f"label[for={field_id}]").count() == 1
    # Everything the pages load comes from the server itself (no CDN): works offline.
    assert any(url.endswith("/ui/static/browser.js") for url in requested)
    assert all(url.startswith(f"{site.url}/") for url in requested), requested

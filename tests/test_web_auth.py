"""The web app's sessions, CSRF protection, roles and page hygiene, on SQLite and PostgreSQL."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.routing import APIRoute

from openidds.web import pages, patient, programming, refill, workflows
from tests.api_support import prepare_body
from tests.web_support import (
    PASSWORD,
    Browser,
    Clinic,
    fast_argon2,
    form_token,
    implanted_patient,
    new_patient,
    patient_login,
    prepare_data,
    text_by_id,
)


@pytest.fixture(autouse=True)
def _cheap_hashes(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    fast_argon2(monkeypatch)
    yield


def test_login_sets_a_safe_session_cookie_and_logout_revokes_it(clinic: Clinic) -> None:
    browser = Browser(clinic)
    r = browser.get("/clinic")
    assert (r.status_code, r.headers["location"]) == (303, "/login?next=/clinic")
    wrong = browser.login("ada", "not the password")
    assert wrong.status_code == 401 and "wrong username or password" in wrong.text
    r = browser.login("ada", next_url="/clinic")
    assert (r.status_code, r.headers["location"]) == (303, "/clinic")
    cookie = next(v for k, v in r.headers.multi_items() if k == "set-cookie" and v.startswith("idds_session="))
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Secure" not in cookie  # plain http here
    assert browser.get("/clinic").status_code == 200
    token = browser.client.cookies.get("idds_session")

    r = browser.post("/logout")
    assert (r.status_code, r.headers["location"]) == (303, "/login")
    browser.client.cookies.set("idds_session", token or "")  # the old cookie, replayed
    r = browser.get("/clinic")
    assert (r.status_code, r.headers["location"]) == (303, "/login?next=/clinic")


def test_the_session_cookie_is_secure_over_https(clinic: Clinic) -> None:
    browser = Browser(clinic, https=True)
    r = browser.login("ada")
    cookie = next(v for k, v in r.headers.multi_items() if k == "set-cookie" and v.startswith("idds_session="))
    assert "Secure" in cookie and "HttpOnly" in cookie


def test_login_redirects_only_within_the_site(clinic: Clinic) -> None:
    browser = Browser(clinic)
    r = browser.login("ada", next_url="https://evil.example/steal")
    assert r.headers["location"] == "/steal"
    browser = Browser(clinic)
    assert browser.login("nora", next_url="//evil.example").headers["location"] == "/clinic"


def test_a_post_without_the_csrf_token_is_refused(clinic: Clinic) -> None:
    pid = implanted_patient(clinic)
    ada = Browser(clinic, "ada")
    for path in ("/logout", f"/patients/{pid}/follow-up", f"/patients/{pid}/programs/1/confirm"):
        r = ada.post(path, {"nrs": "3"}, csrf=False)
        assert r.status_code == 403 and "security token" in r.text, path
    assert ada.post(f"/patients/{pid}/follow-up", {"csrf_token": "0" * 64, "nrs": "3"}).status_code == 403
    nora = Browser(clinic, "nora")  # another session's token does not work in this one
    assert ada.post(f"/patients/{pid}/follow-up", {"csrf_token": nora.csrf, "nrs": "3"}).status_code == 403
    # htmx sends it in a header instead
    r = ada.client.post(
        f"/patients/{pid}/follow-up/preview",
        data={"nrs": "3"},
        headers={"X-CSRF-Token": ada.csrf, "HX-Request": "true"},
    )
    assert r.status_code == 200 and "NRS 3" in r.text
    # nothing was written by the refused posts
    assert clinic.call("GET", f"/patients/{pid}/follow-ups", "ada").json() == []
    # the login form has its own token (a double-submit cookie)
    fresh = Browser(clinic)
    r = fresh.client.post("/login", data={"username": "ada", "password": "x", "csrf_token": "forged"})
    assert r.status_code == 403


def test_every_post_route_checks_the_csrf_token(clinic: Clinic) -> None:
    pid = implanted_patient(clinic)
    ada = Browser(clinic, "ada")
    posts = [
        route.path
        for router in (pages.router, workflows.router, programming.router, refill.router, patient.router)
        for route in router.routes
        if isinstance(route, APIRoute) and "POST" in route.methods and route.path != "/login"
    ]
    assert len(posts) >= 25
    for wanted in ("/refills/{refill_id}/complete", "/refills/{refill_id}/check", "/flags/{flag_id}/resolve"):
        assert any(p.endswith(wanted) for p in posts), wanted
    for path in posts:
        url = re.sub(r"\{[a-z_]+\}", "1", path).replace("/patients/1", f"/patients/{pid}")
        assert ada.post(url, {}, csrf=False).status_code == 403, path
    assert clinic.call("GET", f"/patients/{pid}/refills", "ada").json() == []  # nothing was written


def test_roles_are_the_apis(clinic: Clinic) -> None:
    mine = implanted_patient(clinic)
    other = implanted_patient(clinic, mrn="W-0002", family="Roe")
    me = patient_login(clinic, mine, "jane")
    paths = (
        "",
        "/pump",
        "/remote",
        "/diary",
        "/alarms",
        "/follow-up",
        "/programs/1",
        "/refill",
        "/refills/1",
        "/flags/1",
    )
    for path in paths:
        r = me.get(f"/patients/{other}{path}")
        assert r.status_code == 404, path
        assert "Roe" not in r.text
    assert me.post(f"/patients/{other}/remote").status_code == 404
    assert me.post(f"/patients/{other}/diary", {"nrs": "4"}).status_code == 404
    assert me.get(f"/patients/{mine}").headers["location"] == f"/patients/{mine}/pump"
    assert me.get(f"/patients/{mine}/pump").status_code == 200
    assert me.get("/").headers["location"] == f"/patients/{mine}/pump"
    assert me.get("/clinic").status_code == 403
    assert me.get(f"/patients/{mine}/programs/1").status_code == 404  # the care team's pages are not the patient's

    root = Browser(clinic, "root")  # the admin reads the audit trail, not clinical records
    assert root.get("/").headers["location"] == "/admin"
    assert "intact" in root.get("/admin").text
    assert root.get("/clinic").status_code == 403
    assert root.get(f"/patients/{mine}").status_code == 403

    nora = Browser(clinic, "nora")
    assert nora.get(f"/patients/{mine}/implant").status_code == 403  # only a physician records an implant
    assert nora.get(f"/patients/{mine}/program").status_code == 200  # a nurse proposes programs…
    r = nora.post(f"/patients/{mine}/programs/1/confirm")  # …but cannot confirm them
    assert r.status_code == 403 and "a nurse cannot confirm a proposed pump program" in r.text

    # a pharmacist prepares and checks refills but does not fill them
    phil = Browser(clinic, "phil")
    assert phil.get(f"/patients/{mine}/refill").status_code == 200
    r = phil.post(f"/patients/{mine}/refills", prepare_data())
    assert r.status_code == 303
    url = r.headers["location"]
    record = phil.get(url).text
    assert "refill-form" not in record and "refill-cosign-form" in record  # his own preparation: someone else checks
    r = phil.post(f"{url}/complete", {"withdrawn_ml": "40", "filled_ml": "40", "emergency_reason": "test"})
    assert r.status_code == 403 and "a pharmacist cannot complete a refill" in r.text
    assert me.get(url).status_code == 404  # nor is a refill the patient's page
    assert root.get(url).status_code == 403


def test_an_expired_session_sends_htmx_to_the_login_page(clinic: Clinic) -> None:
    pid = new_patient(clinic)
    ada = Browser(clinic, "ada")
    clinic.advance(hours=9)  # the token lives 8 h (one shift)
    r = ada.post(f"/patients/{pid}/evaluation/preview", {}, htmx=True)
    assert r.status_code == 401 and r.headers["HX-Redirect"].startswith("/login?next=")


def _pages(clinic: Clinic) -> list[tuple[Browser, str]]:
    pid = implanted_patient(clinic)
    clinic.advance(days=1)
    ada = Browser(clinic, "ada")
    me = patient_login(clinic, pid, "jane")
    # a refill prepared by the nurse, seen by a physician (who may check it and fill it: both forms on one page),
    # and a flag (an interrogated reservoir outside the band: 1 day in, 39.475 mL expected, ± 0.07875 mL)
    r = clinic.call("POST", f"/patients/{pid}/refills", "nora", json=prepare_body())
    assert r.status_code == 201, r.text
    rid = r.json()["id"]
    r = clinic.call("POST", f"/patients/{pid}/interrogations", "nora", json={"reservoir_ml": "30"})
    assert r.status_code == 201, r.text
    flags = [f for f in clinic.call("GET", f"/patients/{pid}/flags", "nora").json() if f["resolved_at"] is None]
    assert len(flags) == 1  # (the first fill's review, resolved, is not)
    staff = [
        "/login",
        "/clinic",
        "/patients",
        "/patients/new",
        f"/patients/{pid}",
        f"/patients/{pid}/evaluation",
        f"/patients/{pid}/trial",
        f"/patients/{pid}/implant",
        f"/patients/{pid}/program",
        f"/patients/{pid}/programs/1",
        f"/patients/{pid}/refill",
        f"/patients/{pid}/follow-up",
        f"/patients/{pid}/interrogation",
        f"/patients/{pid}/refills/{rid}",
        f"/patients/{pid}/flags/{flags[0]['id']}",
        "/account/password",
    ]
    own = [f"/patients/{pid}/pump", f"/patients/{pid}/remote", f"/patients/{pid}/diary", f"/patients/{pid}/alarms"]
    own.append("/account/password")
    return [(ada, p) for p in staff] + [(me, p) for p in own]


def test_no_page_loads_anything_from_another_site(clinic: Clinic) -> None:
    """Offline: every script, style and image is ours. The only off-site links are citations (class="source"),
    which the reader may follow, never loaded by the page."""
    for browser, path in _pages(clinic):
        r = browser.get(path)
        assert r.status_code == 200, (path, r.text[:500])
        html = r.text
        for tag in re.finditer(r"<([a-zA-Z]+)\b[^>]*\b(?:src|href|action|data|poster)\s*=\s*\"(?:https?:)?//", html):
            element = tag.group(0)
            assert tag.group(1) == "a" and 'class="source"' in element, (path, element)
        assert "url(" not in html and "@import" not in html, path
        for script in re.findall(r"<script\b[^>]*>", html):
            assert re.search(r'src="/static/[a-z.]+\.js"', script), (path, script)  # no inline script (CSP)
        assert not re.search(r"\son[a-z]+\s*=", html), path  # no inline event handlers
        assert not re.search(r"\sstyle\s*=", html), path  # no inline style (CSP)
        ids = re.findall(r'\sid="([^"]+)"', html)
        assert len(ids) == len(set(ids)), (path, sorted({i for i in ids if ids.count(i) > 1}))  # stable selectors


def test_pages_carry_the_security_headers(clinic: Clinic) -> None:
    ada = Browser(clinic, "ada")
    r = ada.get("/clinic")
    assert "default-src 'self'" in r.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["cache-control"] == "no-store"
    static = ada.get("/static/htmx.min.js")
    assert static.status_code == 200 and "Zero-Clause BSD" in static.text[:800]
    assert ada.get("/static/openidds.css").status_code == 200
    assert ada.get("/static/openidds.js").status_code == 200


def test_the_api_is_unchanged_beside_the_pages(clinic: Clinic) -> None:
    assert clinic.client.get("/api/v1/roles").status_code == 200
    assert clinic.call("GET", "/dashboard", "ada").status_code == 200
    # a web session cookie does not authenticate the API (no CSRF there: it reads only its bearer header)
    ada = Browser(clinic, "ada")
    assert ada.get("/api/v1/auth/me").status_code == 401


def test_an_address_that_matches_no_page_is_the_sites_not_found_page(clinic: Clinic) -> None:
    # a typo or an old bookmark: the site's own page (title, language, a way back), not the API's JSON
    ada = Browser(clinic, "ada")
    for browser, path in ((ada, "/no-such-page"), (ada, "/patients/1/no-such-page"), (Browser(clinic), "/nowhere")):
        r = browser.get(path)
        assert r.status_code == 404 and r.headers["content-type"].startswith("text/html"), path
        assert '<html lang="en">' in r.text and "<title>Not found · OpenIDDS</title>" in r.text, path
        assert 'id="error-title"' in r.text and "no such page" in r.text, path
        assert "default-src 'self'" in r.headers["content-security-policy"], path
    api = ada.get("/api/v1/no-such-thing")
    assert api.status_code == 404 and api.json()["message"] == "no such address in the API"
    static = ada.get("/static/no-such.css")
    assert static.status_code == 404 and static.headers["content-type"] == "application/json"


def test_the_add_user_form_carries_its_autocomplete_attributes_unescaped(clinic: Clinic) -> None:
    html = Browser(clinic, "root").get("/admin/users").text
    assert re.search(r'id="f-username"[^>]* autocomplete="off" autocapitalize="none" spellcheck="false"', html)
    assert re.search(r'id="f-password"[^>]* autocomplete="new-password"', html)
    form = re.search(r'<form[^>]*id="add-user".*?</form>', html, re.S)
    assert form is not None and "&quot;" not in form.group(0)


# --- one's own password (issue 11) ------------------------------------------------------------------------------------
def test_every_role_finds_change_my_password_in_the_header(clinic: Clinic) -> None:
    pid = new_patient(clinic)
    for browser, home in (
        (Browser(clinic, "root"), "/admin"),
        (Browser(clinic, "ada"), "/clinic"),
        (Browser(clinic, "nora"), "/clinic"),
        (Browser(clinic, "phil"), "/clinic"),
        (patient_login(clinic, pid, "pat"), f"/patients/{pid}/pump"),
    ):
        page = browser.get(home).text
        assert re.search(r'<a id="nav-password" href="/account/password">Change my password</a>', page), home
        form = browser.get("/account/password").text
        assert text_by_id(form, "password-form").startswith("Current password New password")


def test_changing_my_password_on_the_web_ends_my_other_sessions_but_not_this_one(clinic: Clinic) -> None:
    here, elsewhere = Browser(clinic, "nora"), Browser(clinic, "nora")
    page = here.get("/account/password").text
    data = {
        "form_token": form_token(page, "password-form"),
        "current_password": PASSWORD,
        "new_password": "the owl and the pussycat",
        "new_password_again": "the owl and the pussycat",
    }
    r = here.post("/account/password", data)
    assert (r.status_code, r.headers["location"]) == (303, "/account/password?done=1")
    assert text_by_id(here.follow(r).text, "password-done").startswith("Your password is changed.")
    assert here.get("/clinic").status_code == 200
    assert elsewhere.get("/clinic").headers["location"] == "/login?next=/clinic"
    assert here.post("/account/password", data).headers["location"] == "/account/password?done=1"  # sent twice
    assert Browser(clinic).login("nora", PASSWORD).status_code == 401
    assert Browser(clinic).login("nora", "the owl and the pussycat").status_code == 303


@pytest.mark.parametrize(
    ("changes", "status", "words"),
    [
        ({"current_password": "not it"}, 422, "Current password: is not your current password"),
        ({"new_password_again": "something else"}, 422, "New password again: is not the same as the new password"),
        (
            {"new_password": "1234567890", "new_password_again": "1234567890"},
            422,
            "New password: is one of the most common passwords",
        ),
        (
            {"new_password": "nora nora nora", "new_password_again": "nora nora nora"},
            422,
            "New password: must not contain the username",
        ),
    ],
)
def test_a_refused_password_change_says_why_in_words(
    clinic: Clinic, changes: dict[str, str], status: int, words: str
) -> None:
    nora = Browser(clinic, "nora")
    data = {"current_password": PASSWORD, "new_password": "a fresh phrase", "new_password_again": "a fresh phrase"}
    r = nora.post("/account/password", {**data, **changes})
    assert r.status_code == status
    assert text_by_id(r.text, "password-error-message").startswith(words)
    assert 'aria-invalid="true"' in r.text
    assert Browser(clinic).login("nora", PASSWORD).status_code == 303  # unchanged


def test_a_wrong_current_password_on_the_web_is_throttled_like_a_login(clinic: Clinic) -> None:
    nora = Browser(clinic, "nora")
    data = {"current_password": "a guess", "new_password": "a fresh phrase", "new_password_again": "a fresh phrase"}
    for _ in range(5):
        assert nora.post("/account/password", data).status_code == 422
    r = nora.post("/account/password", {**data, "current_password": PASSWORD})
    assert (r.status_code, r.headers["retry-after"]) == (429, "1")
    assert text_by_id(r.text, "password-error-message") == (
        "Too many failed logins for this login name: try again in 1 second"
    )


def test_logging_out_on_the_web_is_audited(clinic: Clinic) -> None:
    from sqlalchemy import select

    from openidds.db.models import AuditRecord

    ada = Browser(clinic, "ada")
    assert ada.post("/logout").status_code == 303
    with clinic.sessions() as s:
        actions = [(r.actor, r.action) for r in s.scalars(select(AuditRecord).order_by(AuditRecord.sequence))]
    assert actions[-2:] == [("ada (physician)", "login"), ("ada (physician)", "logout")]


def test_a_login_name_no_user_can_have_is_a_wrong_login_not_a_crash(clinic: Clinic) -> None:
    """The web form is not the API's schema: a NUL (which PostgreSQL refuses in a query) or a very long name is
    answered as an unknown name, and counted as one."""
    for name in ("ada\x00", "ada" * 400):
        r = Browser(clinic).login(name, PASSWORD)
        assert r.status_code == 401 and "wrong username or password" in r.text

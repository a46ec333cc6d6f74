import re

from playwright.sync_api import expect


def test_operator_signs_in_and_sees_the_dashboard(page, sign_in):
    user = sign_in("operator")
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    expect(page.locator(".who")).to_contain_text(user.username)
    expect(page.locator(".who .badge")).to_have_text("Operator")
    # The navigation offers only what the role may open.
    expect(
        page.get_by_role("navigation", name="Main").get_by_role("link", name="Staff")
    ).to_have_count(0)


def test_a_page_the_role_lacks_is_refused(page, sign_in):
    sign_in("finance")
    response = page.goto("/staff/")
    assert response.status == 403
    expect(page.get_by_role("heading", name="Not allowed")).to_be_visible()
    expect(page.get_by_text("(Finance)")).to_be_visible()


def test_admin_adds_staff_and_filters_the_audit_log_with_htmx(page, sign_in):
    sign_in("admin")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Staff").click()
    page.get_by_label("Username").fill("new-operator")
    page.get_by_label("Role").select_option("operator")
    page.get_by_role("button", name="Add").click()
    expect(page.get_by_role("heading", name="new-operator added")).to_be_visible()
    expect(page.get_by_test_id("one-time-password")).to_have_text(re.compile(r"\S{12,}"))

    page.goto("/audit/")
    page.get_by_label("Action").select_option("Staff")
    # htmx swaps the results in place and keeps the filter in the address bar.
    page.wait_for_url(re.compile(r"action=Staff"))
    rows = page.locator("#results tbody tr")
    expect(rows).to_have_count(2)  # the admin's and new-operator's creation
    expect(page.locator("#results")).not_to_contain_text("Signed in")
    # In words: what happened, to whom (a link to the person), on one line.
    expect(rows.first).to_contain_text("Staff member added")
    expect(rows.first.get_by_role("link", name="Staff member new-operator")).to_be_visible()
    expect(rows.first).to_contain_text("role: operator")


def test_sign_out(page, sign_in):
    sign_in("operator")
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/accounts/login/\?next=/$"))


def test_an_operator_reads_currency_rates_but_is_refused_changing_them(page, sign_in):
    from catalog.models import CurrencyRate, PricingRule
    from suppliers.models import SupplierAccount

    account = SupplierAccount.objects.create(
        name="Main", base_url="http://127.0.0.1:9", shop_token="t" * 32
    )
    rule = PricingRule.objects.create(account=account, scope="default", markup_percent=5)
    # Browser tests empty the database between them: the rate is set here.
    CurrencyRate.objects.update_or_create(currency="RUB", defaults={"usd_per_unit": "0.011"})
    rub_before = CurrencyRate.objects.get(currency="RUB").usd_per_unit
    sign_in("operator")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Pricing").click()
    expect(page.get_by_test_id("pricing-read-only")).to_contain_text("an admin changes them")
    expect(page.get_by_role("cell", name="RUB")).to_be_visible()
    expect(page.get_by_role("button", name="Save rate")).to_have_count(0)
    expect(page.get_by_role("link", name="Everything")).to_have_count(0)

    # A rate form kept from earlier, or typed by hand, is refused by the server all the same.
    csrf = next(c["value"] for c in page.context.cookies() if c["name"] == "csrftoken")
    refused = page.request.post(
        "/catalog/pricing/rates/",
        form={"currency": "RUB", "usd_per_unit": "1"},
        headers={"X-CSRFToken": csrf, "Referer": page.url},
    )
    assert refused.status == 403
    assert CurrencyRate.objects.get(currency="RUB").usd_per_unit == rub_before

    response = page.goto(f"/catalog/pricing/{rule.pk}/")
    assert response.status == 403
    expect(page.get_by_role("heading", name="Not allowed")).to_be_visible()

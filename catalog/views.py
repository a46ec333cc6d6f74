"""Catalog pages: the browser, an offer, syncs, pricing rules. Plain pages that htmx makes quick."""

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect, render
from django.template.defaultfilters import floatformat
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from catalog import selectors, services, sync
from catalog.filters import OfferFilter
from catalog.models import Offer, PricingRule, ProfileChange, SyncJob
from catalog.pagination import offer_page
from catalog.pricing import RuleBook
from reseller.core.errors import ApplicationError
from reseller.core.ids import typed_id
from reseller.core.pages import render_page
from reseller.core.querystrings import without_empty
from reseller.core.spreadsheets import csv_download
from suppliers.chooser import AccountChooser
from suppliers.clients import SupplierError
from suppliers.ratelimit import RateLimitSaturated
from suppliers.services import supplier_client

PAGE_SIZE = 50
#: The catalog's pages show one supplier account at a time, chosen among the enabled ones.
ACCOUNTS = AccountChooser(selectors.catalog_accounts)


def _offer_filter(request, account, last_sync):
    choices = selectors.filter_choices(account)
    return OfferFilter(
        request.GET or None,
        queryset=selectors.offer_list_for_catalog(account=account),
        account=account,
        categories=choices.categories,
        currencies=choices.currencies,
        last_sync=last_sync,
    )


@permission_required("catalog.view_offer", raise_exception=True)
@require_GET
def catalog_browse(request):
    account, accounts = ACCOUNTS.chosen(request)
    if account is None:
        return render(request, "catalog/empty.html")
    last_sync = selectors.last_successful_sync(account)
    filterset = _offer_filter(request, account, last_sync)
    page = offer_page(
        filterset.qs,
        request.GET.get("page"),
        per_page=PAGE_SIZE,
        counted_with_rows=filterset.searches,
    )
    book = RuleBook.for_account(account)
    rows = [
        (offer, book.price_offer(offer), offer.is_compatible_with(account.balance_profile))
        for offer in page
    ]
    context = {
        "account": account,
        "accounts": accounts,
        "filter": filterset,
        "page": page,
        "rows": rows,
        "query": without_empty(request.GET, drop=("page",)),
        "sort_query": without_empty(request.GET, drop=("page", "sort")),
        "sort": request.GET.get("sort", ""),
        "last_sync": last_sync,
        "active_sync": selectors.active_sync(account),
        "profile_changes": selectors.open_profile_changes(account),
    }
    return render_page(request, "catalog/browse.html", context, partials=["results"], push_url=True)


@permission_required("catalog.view_offer", raise_exception=True)
@require_GET
def catalog_export(request):
    """The priced catalog (the browser's current filters) as CSV for the storefront."""
    account = ACCOUNTS.required(request)
    book = RuleBook.for_account(account)
    offers = _offer_filter(request, account, selectors.last_successful_sync(account)).qs

    def rows():
        for offer in offers.iterator(chunk_size=2000):
            price = book.price_offer(offer)
            yield [
                offer.offer_id,
                offer.product_name,
                offer.offer_name,
                offer.category,
                offer.product_type,
                offer.currency,
                offer.price,
                price.retail if price.retail is not None else "",
                price.margin if price.margin is not None else "",
                offer.in_stock,
                offer.requires_user_id,
                offer.requires_server_id,
                "delisted" if offer.delisted_at else "listed",
            ]

    header = [
        "offer_id", "product", "offer", "category", "type", "currency", "cost", "retail", "margin",
        "in_stock", "needs_player_id", "needs_server_id", "listing",
    ]  # fmt: skip
    return csv_download(header, rows(), name=f"catalog-{account.pk}")


@permission_required("catalog.view_offer", raise_exception=True)
@require_GET
def offer_detail(request, offer_pk: int):
    offer = get_object_or_404(Offer.objects.select_related("account"), pk=offer_pk)
    book = RuleBook.for_account(offer.account)
    context = {
        "offer": offer,
        "price": book.price_offer(offer),
        "rule": book.rule_for(
            offer_id=offer.offer_id, product_id=offer.product_id, category=offer.category
        ),
        "compatible": offer.is_compatible_with(offer.account.balance_profile),
        "chart": selectors.price_chart(offer),
        "history": offer.price_history.all()[:20],
    }
    return render(request, "catalog/offer_detail.html", context)


@permission_required("catalog.change_offer", raise_exception=True)
@require_POST
def offer_refresh(request, offer_pk: int):
    offer = get_object_or_404(Offer.objects.select_related("account"), pk=offer_pk)
    try:
        offer = services.offer_refresh_price(offer=offer, by=request.user)
    except ApplicationError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, f"Live price: {floatformat(offer.price, '-2')} {offer.currency}.")
    return redirect("catalog:offer_detail", offer_pk=offer.pk)


@permission_required("catalog.view_offer", raise_exception=True)
@require_GET
def offer_servers(request, offer_pk: int):
    """The offer's server list, fetched from the supplier on demand."""
    offer = get_object_or_404(Offer.objects.select_related("account"), pk=offer_pk)
    error, servers = "", ()
    try:
        # A person is waiting: one quick retry at most.
        servers = supplier_client(offer.account, max_retries=1, waiting=True).servers(
            offer.offer_id
        )
    except SupplierError as failure:
        error = f"The supplier did not give the server list: {failure}"
    except RateLimitSaturated as failure:
        error = failure.page_text
    context = {"offer": offer, "servers": servers, "error": error}
    return render_page(request, "catalog/offer_servers.html", context, htmx_partial="servers")


@permission_required("catalog.view_syncjob", raise_exception=True)
@require_GET
def sync_list(request):
    account, accounts = ACCOUNTS.chosen(request)
    jobs = Paginator(selectors.sync_job_list(), 25).get_page(request.GET.get("page"))
    return render(
        request, "catalog/sync_list.html", {"jobs": jobs, "accounts": accounts, "account": account}
    )


@permission_required("catalog.add_syncjob", raise_exception=True)
@require_POST
def sync_start(request):
    account = ACCOUNTS.required(request)
    try:
        job = sync.catalog_sync_start(account=account, by=request.user)
    except sync.SyncAlreadyRunning as error:
        messages.info(request, error.message)
        active = selectors.active_sync(account)
        if active is None:  # it finished in the meantime
            return redirect("catalog:sync_list")
        job = active
    return redirect("catalog:sync_detail", job_pk=job.pk)


@permission_required("catalog.view_syncjob", raise_exception=True)
@require_GET
def sync_detail(request, job_pk: int):
    job = get_object_or_404(SyncJob.objects.select_related("account", "started_by"), pk=job_pk)
    return render_page(request, "catalog/sync_detail.html", {"job": job}, htmx_partial="progress")


@permission_required("catalog.change_profilechange", raise_exception=True)
@require_POST
def profile_change_dismiss(request, change_pk: int):
    change = get_object_or_404(ProfileChange, pk=change_pk)
    services.profile_change_dismiss(change=change, by=request.user, request=request)
    return redirect(f"{reverse('catalog:catalog_browse')}?account={change.account_id}")


class PricingRuleForm(forms.ModelForm):
    class Meta:
        model = PricingRule
        fields = [
            "scope",
            "target",
            "markup_percent",
            "markup_fixed",
            "fixed_in_usd",
            "rounding",
            "note",
        ]
        labels = {
            "target": "Offer id, product id or category",
            "markup_percent": "Markup %",
            "markup_fixed": "Fixed markup",
            "fixed_in_usd": "Fixed markup is in USD",
        }

    def __init__(self, *args, account, **kwargs):
        super().__init__(*args, **kwargs)
        self.instance.account = account

    def clean(self):
        super().clean()
        data = self.cleaned_data
        scope, target = data.get("scope"), (data.get("target") or "").strip()
        if scope == PricingRule.Scope.DEFAULT:
            target = ""
        elif not target:
            self.add_error("target", "Say which offer, product or category this rule is for.")
        elif (
            scope in (PricingRule.Scope.OFFER, PricingRule.Scope.PRODUCT)
            and typed_id(target) is None
        ):
            self.add_error("target", "An offer or product is named by its numeric id.")
        data["target"] = target
        self.instance.target = target
        if data.get("markup_percent") is not None and data["markup_percent"] < -90:
            self.add_error("markup_percent", "A markup below -90 % is surely a typo.")
        return data


class CurrencyRateForm(forms.Form):
    currency = forms.RegexField(regex=r"^[A-Za-z]{3}$", max_length=3)
    usd_per_unit = forms.DecimalField(
        max_digits=18, decimal_places=8, min_value=0, label="USD per unit"
    )
    valid_from = forms.DateTimeField(
        required=False,
        label="Valid from (empty: now)",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
    )


@permission_required("catalog.view_pricingrule", raise_exception=True)
@require_http_methods(["GET", "POST"])
def pricing(request):
    account, accounts = ACCOUNTS.chosen(request)
    if account is None:
        return render(request, "catalog/empty.html")
    can_change = request.user.has_perm("catalog.add_pricingrule")
    form = PricingRuleForm(request.POST or None, account=account)
    rate_form = CurrencyRateForm()
    if request.method == "POST":
        if not can_change:
            return render(request, "403.html", status=403)
        if form.is_valid():
            try:
                services.pricing_rule_save(
                    rule=form.save(commit=False), by=request.user, request=request
                )
            except forms.ValidationError:
                form.add_error(None, "A rule for this target exists already: edit it instead.")
            else:
                messages.success(request, "Rule saved.")
                return redirect(f"{reverse('catalog:pricing')}?account={account.pk}")
    context = {
        "account": account,
        "accounts": accounts,
        "rules": PricingRule.objects.filter(account=account),
        "rates": selectors.currency_rate_history(),
        "form": form,
        "rate_form": rate_form,
        "can_change": can_change,
    }
    return render(request, "catalog/pricing.html", context)


@permission_required("catalog.change_pricingrule", raise_exception=True)
@require_http_methods(["GET", "POST"])
def pricing_rule_edit(request, rule_pk: int):
    rule = get_object_or_404(PricingRule.objects.select_related("account"), pk=rule_pk)
    form = PricingRuleForm(request.POST or None, instance=rule, account=rule.account)
    if request.method == "POST":
        if "delete" in request.POST:
            services.pricing_rule_delete(rule=rule, by=request.user, request=request)
            messages.success(request, "Rule deleted.")
            return redirect(f"{reverse('catalog:pricing')}?account={rule.account_id}")
        if form.is_valid():
            services.pricing_rule_save(
                rule=form.save(commit=False), by=request.user, request=request
            )
            messages.success(request, "Rule saved.")
            return redirect(f"{reverse('catalog:pricing')}?account={rule.account_id}")
    return render(request, "catalog/pricing_rule.html", {"form": form, "rule": rule})


@permission_required("catalog.change_currencyrate", raise_exception=True)
@require_POST
def currency_rate_save(request):
    form = CurrencyRateForm(request.POST)
    if form.is_valid():
        try:
            services.currency_rate_save(**form.cleaned_data, by=request.user, request=request)
        except ApplicationError as error:
            messages.error(request, error.message)
        else:
            messages.success(request, f"Rate for {form.cleaned_data['currency'].upper()} saved.")
    else:
        messages.error(
            request,
            "A rate needs a three-letter currency code, a positive number and, if given, "
            "a valid date and time.",
        )
    return redirect(f"{reverse('catalog:pricing')}?account={request.POST.get('account', '')}")

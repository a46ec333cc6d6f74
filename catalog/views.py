"""Catalog pages: the browser, an offer, syncs, pricing rules. Plain pages that htmx makes quick."""

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from catalog import offer_lookup, selectors, services, sync
from catalog.filters import OfferFilter
from catalog.models import Offer, OfferLookupJob, PricingRule, ProfileChange, SyncJob
from catalog.pagination import offer_page
from catalog.pricing import RuleBook
from reseller.core.errors import ApplicationError
from reseller.core.forms import DecimalField, number_formfield
from reseller.core.ids import typed_id
from reseller.core.money import money_text
from reseller.core.pages import render_page
from reseller.core.querystrings import without_empty
from reseller.core.spreadsheets import csv_download
from suppliers.capabilities import capabilities_of
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
    filterset = _offer_filter(request, account, selectors.last_catalog_update(account))
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
        "last_lookup": selectors.last_finished_lookup(account),
        "profile_changes": selectors.open_profile_changes(account),
    }
    return render_page(request, "catalog/browse.html", context, partials=["results"], push_url=True)


@permission_required("catalog.view_offer", raise_exception=True)
@require_GET
def catalog_export(request):
    """The priced catalog (the browser's current filters) as CSV for the storefront."""
    account = ACCOUNTS.required(request)
    book = RuleBook.for_account(account)
    offers = _offer_filter(request, account, selectors.last_catalog_update(account)).qs

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
        messages.success(request, f"Live price: {money_text(offer.price)} {offer.currency}.")
    return redirect("catalog:offer_detail", offer_pk=offer.pk)


@permission_required("catalog.view_offer", raise_exception=True)
@require_GET
def offer_servers(request, offer_pk: int):
    """The offer's server list, fetched from the supplier on demand."""
    offer = get_object_or_404(Offer.objects.select_related("account"), pk=offer_pk)
    error, servers = "", ()
    if not capabilities_of(offer.account).servers:
        error = f"{offer.account.get_kind_display()} publishes no server list: enter the server id."
        context = {"offer": offer, "servers": servers, "error": error}
        return render_page(request, "catalog/offer_servers.html", context, htmx_partial="servers")
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
    except sync.NoCatalogFeed as error:
        messages.info(request, error.message)
        return redirect(f"{reverse('catalog:offer_lookup_list')}?account={account.pk}")
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
        formfield_callback = number_formfield
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
    usd_per_unit = DecimalField(max_digits=18, decimal_places=8, min_value=0, label="USD per unit")
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
            if not request.user.has_perm("catalog.delete_pricingrule"):
                return render(request, "403.html", status=403)
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


# --- offers added by id (suppliers without a catalog feed) ---------------------------------------


class OfferIdsForm(forms.Form):
    offer_ids = forms.CharField(
        label="Offer ids",
        required=False,
        widget=forms.Textarea(attrs={"rows": 4, "placeholder": "2061, 2062\n2063"}),
        help_text="One or many, separated by commas, spaces or lines.",
    )
    csv_file = forms.FileField(
        label="Or a CSV file",
        required=False,
        help_text="The column offer_id (or the first column) holds the ids.",
    )

    def clean(self):
        data = super().clean() or {}
        found = offer_lookup.offer_ids_read(
            text=data.get("offer_ids") or "", csv_file=data.get("csv_file")
        )
        if found.problems:
            shown = "; ".join(found.problems[:10])
            more = len(found.problems) - 10
            self.add_error(None, shown + (f"; and {more} more" if more > 0 else "") + ".")
        elif not found.ids:
            self.add_error("offer_ids", "Give at least one offer id.")
        data["ids"] = found.ids
        return data


def _lookup_page(request, account, accounts, form=None, status=200):
    context = {
        "account": account,
        "accounts": accounts,
        "form": form or OfferIdsForm(),
        "jobs": Paginator(selectors.offer_lookup_list(account), 25).get_page(
            request.GET.get("page")
        ),
        "active": selectors.active_lookup(account),
        "offer_count": Offer.objects.filter(account=account).count(),
        "query": f"account={account.pk}",  # the next page is of the same account
    }
    return render(request, "catalog/offer_lookup_list.html", context, status=status)


@permission_required("catalog.view_offerlookupjob", raise_exception=True)
@require_GET
def offer_lookup_list(request):
    account, accounts = ACCOUNTS.chosen(request)
    if account is None:
        return render(request, "catalog/empty.html")
    return _lookup_page(request, account, accounts)


@permission_required("catalog.add_offerlookupjob", raise_exception=True)
@require_POST
def offer_lookup_start(request):
    account, accounts = ACCOUNTS.chosen(request)
    if account is None:
        raise Http404("No supplier account.")
    form = OfferIdsForm(request.POST, request.FILES)
    if form.is_valid():
        try:
            job = offer_lookup.offer_lookup_start(
                account=account, offer_ids=form.cleaned_data["ids"], by=request.user
            )
        except ApplicationError as error:
            form.add_error(None, error.message)
        else:
            return redirect("catalog:offer_lookup_detail", job_pk=job.pk)
    return _lookup_page(request, account, accounts, form=form, status=400)


@permission_required("catalog.add_offerlookupjob", raise_exception=True)
@require_POST
def offer_lookup_refresh(request):
    """Look up every offer of the account again now (beat does it on a schedule)."""
    account = ACCOUNTS.required(request)
    back = f"{reverse('catalog:offer_lookup_list')}?account={account.pk}"
    try:
        job = offer_lookup.offer_refresh_all(account=account, by=request.user, trigger="manual")
    except ApplicationError as error:
        messages.info(request, error.message)
        return redirect(back)
    if job is None:
        messages.info(request, f"{account} has no offers to refresh yet: add some by id.")
        return redirect(back)
    return redirect("catalog:offer_lookup_detail", job_pk=job.pk)


@permission_required("catalog.view_offerlookupjob", raise_exception=True)
@require_GET
def offer_lookup_detail(request, job_pk: int):
    job = get_object_or_404(
        OfferLookupJob.objects.select_related("account", "started_by"), pk=job_pk
    )
    return render_page(
        request, "catalog/offer_lookup_detail.html", {"job": job}, htmx_partial="progress"
    )

"""Pages for supplier accounts: everyone with the role may see them, only admins change them."""

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from reseller.core.ids import typed_id
from reseller.core.pages import Page
from reseller.core.signin import fresh_proof_required
from suppliers import selectors, services
from suppliers.forms import SupplierAccountForm, TelegramMarketplaceForm
from suppliers.models import SupplierAccount, TelegramMarketplace


@permission_required("suppliers.view_supplieraccount", raise_exception=True)
@require_GET
def supplier_list(request):
    return render(
        request,
        "suppliers/list.html",
        {
            "accounts": selectors.supplier_account_list(),
            "marketplaces": selectors.telegram_marketplace_list(),
        },
    )


def _save(request, form: SupplierAccountForm):
    return services.supplier_account_save(
        account=form.save(commit=False),
        shop_token=form.cleaned_data["shop_token_input"],
        management_token=form.cleaned_data.get("management_token_input", ""),
        clear_management_token=form.cleaned_data.get("clear_management_token", False),
        webhook_secret=form.cleaned_data.get("webhook_secret_input", ""),
        retire_previous_webhook_secret=form.cleaned_data.get(
            "retire_previous_webhook_secret", False
        ),
        by=request.user,
        request=request,
    )


@permission_required("suppliers.add_supplieraccount", raise_exception=True)
@require_http_methods(["GET", "POST"])
@fresh_proof_required
def supplier_create(request):
    form = SupplierAccountForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        account = _save(request, form)
        messages.success(request, f"{account.name} saved. Test the connection to check the token.")
        return redirect("suppliers:supplier_edit", account_id=account.pk)
    return render(request, "suppliers/form.html", {"form": form, "account": None})


@permission_required("suppliers.change_supplieraccount", raise_exception=True)
@require_http_methods(["GET", "POST"])
@fresh_proof_required
def supplier_edit(request, account_id: int):
    account = get_object_or_404(SupplierAccount, pk=account_id)
    form = SupplierAccountForm(request.POST or None, instance=account)
    if request.method == "POST" and form.is_valid():
        _save(request, form)
        messages.success(request, f"{account.name} saved.")
        return redirect("suppliers:supplier_edit", account_id=account.pk)
    return render(request, "suppliers/form.html", {"form": form, "account": account})


@permission_required("suppliers.change_supplieraccount", raise_exception=True)
@require_POST
def supplier_check(request, account_id: int):
    account = get_object_or_404(SupplierAccount, pk=account_id)
    page = Page(request, "suppliers/form.html", htmx_partial="check_result")
    typed = request.POST.get("offer_id", "").strip()
    offer_id = typed_id(typed) if typed else None
    if typed and not offer_id:
        message = f"An offer id is a whole number; {typed[:30]!r} is not. Nothing was tested."
        if page.partial:
            return page.render({"account": account, "check_problem": message})
        messages.error(request, message)
        return redirect("suppliers:supplier_edit", account_id=account.pk)
    services.supplier_account_check(
        account=account, offer_id=offer_id, by=request.user, request=request
    )
    if page.partial:
        return page.render({"account": account})
    messages.info(request, account.last_check_message)
    return redirect("suppliers:supplier_edit", account_id=account.pk)


# --- Telegram marketplaces (the bot that reports gift sales) --------------------------------------


def _save_marketplace(request, form: TelegramMarketplaceForm) -> TelegramMarketplace:
    return services.telegram_marketplace_save(
        marketplace=form.save(commit=False),
        bot_token=form.cleaned_data["bot_token_input"],
        by=request.user,
        request=request,
    )


@permission_required("suppliers.add_telegrammarketplace", raise_exception=True)
@require_http_methods(["GET", "POST"])
@fresh_proof_required
def marketplace_create(request):
    form = TelegramMarketplaceForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        marketplace = _save_marketplace(request, form)
        messages.success(request, f"{marketplace.name} saved. Test the connection.")
        return redirect("suppliers:marketplace_edit", marketplace_id=marketplace.pk)
    return render(request, "suppliers/marketplace_form.html", {"form": form, "marketplace": None})


@permission_required("suppliers.change_telegrammarketplace", raise_exception=True)
@require_http_methods(["GET", "POST"])
@fresh_proof_required
def marketplace_edit(request, marketplace_id: int):
    marketplace = get_object_or_404(TelegramMarketplace, pk=marketplace_id)
    form = TelegramMarketplaceForm(request.POST or None, instance=marketplace)
    if request.method == "POST" and form.is_valid():
        _save_marketplace(request, form)
        messages.success(request, f"{marketplace.name} saved.")
        return redirect("suppliers:marketplace_edit", marketplace_id=marketplace.pk)
    return render(
        request, "suppliers/marketplace_form.html", {"form": form, "marketplace": marketplace}
    )


@permission_required("suppliers.change_telegrammarketplace", raise_exception=True)
@require_POST
def marketplace_check(request, marketplace_id: int):
    marketplace = get_object_or_404(TelegramMarketplace, pk=marketplace_id)
    page = Page(request, "suppliers/marketplace_form.html", htmx_partial="check_result")
    services.telegram_marketplace_check(marketplace=marketplace, by=request.user, request=request)
    if page.partial:
        return page.render({"marketplace": marketplace})
    messages.info(request, marketplace.last_check_message)
    return redirect("suppliers:marketplace_edit", marketplace_id=marketplace.pk)

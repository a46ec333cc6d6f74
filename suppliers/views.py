"""Pages for supplier accounts: everyone with the role may see them, only admins change them."""

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from reseller.core.pages import Page
from reseller.core.signin import fresh_proof_required
from suppliers import selectors, services
from suppliers.forms import SupplierAccountForm
from suppliers.models import SupplierAccount


@permission_required("suppliers.view_supplieraccount", raise_exception=True)
@require_GET
def supplier_list(request):
    return render(request, "suppliers/list.html", {"accounts": selectors.supplier_account_list()})


def _save(request, form: SupplierAccountForm):
    return services.supplier_account_save(
        account=form.save(commit=False),
        shop_token=form.cleaned_data["shop_token_input"],
        management_token=form.cleaned_data["management_token_input"],
        clear_management_token=form.cleaned_data["clear_management_token"],
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
    services.supplier_account_check(account=account, by=request.user, request=request)
    if page.partial:
        return page.render({"account": account})
    messages.info(request, account.last_check_message)
    return redirect("suppliers:supplier_edit", account_id=account.pk)

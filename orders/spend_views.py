"""Spend controls pages: the limits (set by an admin) with today's use, and the orders and batches
awaiting approval, each approved or rejected by a second person."""

from django import forms
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import permission_required
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from orders import selectors
from orders.approvals import spend_approval_decide
from orders.models import SpendApproval, SpendLimit
from orders.services import spending
from reseller.core.errors import ApplicationError
from reseller.core.pages import render_page
from reseller.core.signin import fresh_proof_required
from suppliers.models import SupplierAccount


class SpendLimitForm(forms.Form):
    kind = forms.ChoiceField(choices=SpendLimit.Kind.choices, label="Limit")
    user = forms.ModelChoiceField(
        queryset=get_user_model().objects.filter(is_active=True).order_by("username"),
        required=False,
        label="Person",
        empty_label="Everyone (without their own)",
        help_text="For a person's limits only.",
    )
    account = forms.ModelChoiceField(
        queryset=SupplierAccount.objects.order_by("name"),
        required=False,
        label="Supplier account",
        help_text="For an account's daily limit only.",
    )
    amount_usd = forms.DecimalField(
        label="Amount (USD)",
        required=False,
        min_value=0,
        max_digits=14,
        decimal_places=2,
        help_text="Leave empty to remove the limit.",
    )


class DecisionForm(forms.Form):
    decision = forms.ChoiceField(choices=[("approve", "Approve"), ("reject", "Reject")])
    comment = forms.CharField(required=False, max_length=2000, widget=forms.Textarea)


@permission_required("orders.view_spendlimit", raise_exception=True)
@require_GET
def spend_limits(request):
    context = {
        "limits": selectors.spend_limit_list(),
        "form": SpendLimitForm(),
        "may_change": request.user.has_perm("orders.change_spendlimit"),
    }
    return render_page(request, "orders/spend_limits.html", context)


@permission_required("orders.change_spendlimit", raise_exception=True)
@require_POST
@fresh_proof_required
def spend_limit_save(request):
    form = SpendLimitForm(request.POST)
    if not form.is_valid():
        messages.error(request, "A limit needs its kind and an amount of USD (zero or more).")
    else:
        try:
            spending.spend_limit_set(**form.cleaned_data, by=request.user, request=request)
        except ApplicationError as error:
            messages.error(request, error.message)
        else:
            messages.success(request, "Limit saved.")
    return redirect("orders:spend_limits")


@permission_required("orders.view_spendapproval", raise_exception=True)
@require_GET
def approval_list(request):
    context = {
        "waiting": selectors.spend_approvals_waiting(),
        "decided": selectors.spend_approval_list().exclude(status=SpendApproval.Status.WAITING)[
            :50
        ],
        "may_approve": request.user.has_perm("orders.approve_spend"),
        "form": DecisionForm(),
    }
    return render_page(request, "orders/approval_list.html", context)


@permission_required("orders.approve_spend", raise_exception=True)
@require_POST
@fresh_proof_required
def approval_decide(request, approval_pk: int):
    approval = get_object_or_404(SpendApproval, pk=approval_pk)
    form = DecisionForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose Approve or Reject.")
        return redirect("orders:approval_list")
    approved = form.cleaned_data["decision"] == "approve"
    try:
        spend_approval_decide(
            approval=approval,
            approved=approved,
            by=request.user,
            comment=form.cleaned_data["comment"],
            request=request,
        )
    except ApplicationError as error:
        messages.error(request, error.message)
        return redirect("orders:approval_list")
    messages.success(request, "Approved: it is on its way." if approved else "Rejected.")
    if approval.batch_id:
        return redirect(reverse("orders:batch_detail", args=[approval.batch_id]))
    return redirect("orders:approval_list")

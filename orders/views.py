"""Order pages: the manual order, the order list and its CSV, one order with its operator
actions and key vault, and resuming an account's held queue. Ordinary pages that htmx keeps
live: the results and an order's status block re-poll while orders are in flight."""

import re
import smtplib
import uuid

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpResponseNotAllowed
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from catalog.models import Offer, Product
from catalog.services import offer_refresh_price
from orders import lookups, selectors, services
from orders.errors import AlreadyPlaced
from orders.forms import OfferSearchForm, OrderFilter, OrderForm, is_telegram_stars
from orders.models import Order, OrderStatus
from orders.routing import product_routes_now
from reseller.core.errors import ApplicationError
from reseller.core.ids import typed_id
from reseller.core.pages import Page, render_page
from reseller.core.querystrings import without_empty
from reseller.core.signin import fresh_proof_required
from reseller.core.spreadsheets import csv_download
from suppliers.models import SupplierAccount
from suppliers.ratelimit import RateLimitSaturated

PAGE_SIZE = 50


# --- the manual order ---------------------------------------------------------------------------


def _live_price(offer: Offer, user) -> tuple[Offer, str]:
    """find-one now: the offer with its live price, or the reason there is none."""
    try:
        return offer_refresh_price(offer=offer, by=user), ""
    except ApplicationError as error:
        return offer, error.message
    except RateLimitSaturated as error:
        return offer, error.page_text


def _check_player(offer: Offer, game_user_id: str, game_server_id: str) -> lookups.PlayerCheck:
    """The player check, once the form holds what the check needs."""
    client = lookups.lookup_client(offer.account)
    if isinstance(client, lookups.ChecksPlayers):
        if not game_user_id:
            return lookups.PlayerCheck(False, problem="Enter the player id first.")
        if offer.requires_server_id and not game_server_id:
            return lookups.PlayerCheck(False, problem="Choose the server first.")
    return lookups.player_check(offer, game_user_id, game_server_id, client=client)


def _order_to_reorder(request) -> Order | None:
    """The failed order an "Order again" form replaces (`again`), if any."""
    raw = request.POST.get("again") or request.GET.get("again")
    if not raw:
        return None
    pk = typed_id(raw)
    if pk is None:
        raise Http404("No such order.")
    return get_object_or_404(selectors.order_list(), pk=pk)


def _reorder_initial(order: Order) -> dict:
    """The failed order's details, to be ordered again as they were (and corrected if need be)."""
    return {
        "game_user_id": order.game_user_id,
        "game_server_id": order.game_server_id,
        "telegram_username": order.telegram_username or order.game_user_id,
        "email": order.email,
        "customer_reference": order.customer_reference,
    }


def _chosen_offer(request) -> Offer | None:
    raw = request.POST.get("offer") or request.GET.get("offer")
    if not raw:
        return None
    pk = typed_id(raw)
    if pk is None:
        raise Http404("No such offer.")
    return get_object_or_404(Offer.objects.select_related("account"), pk=pk)


def _offer_picker(request):
    form = OfferSearchForm(request.GET or None)
    accounts = form.accounts
    account, search = accounts.first(), ""
    if form.is_bound and form.is_valid():
        account = form.cleaned_data["account"] or account
        search = form.cleaned_data["q"]
    elif not form.is_bound and account is not None:
        form = OfferSearchForm(initial={"account": account.pk})
    offers = selectors.offers_for_ordering(account=account, search=search) if account else []
    context = {
        "form": form,
        "account": account,
        "many_accounts": accounts.count() > 1,
        "offers": offers,
        "search": search,
    }
    return render_page(
        request, "orders/order_create.html", context, partials=["offer-results"], push_url=True
    )


def _form_context(offer, form, *, user, price_error="", server_error="", request_key="", **extra):
    return {
        "allowance": selectors.spend_allowance(user=user, account=offer.account),
        "offer": offer,
        "form": form,
        # One key per form shown: sending the same form twice places its orders once.
        "request_key": request_key or uuid.uuid4().hex,
        "price_error": price_error,
        "server_error": server_error,
        "stars": is_telegram_stars(offer),
        "compatible": offer.is_compatible_with(offer.account.balance_profile),
        "priced_at": timezone.now(),
        **extra,
    }


@permission_required("orders.add_order", raise_exception=True)
@require_http_methods(["GET", "POST"])
def order_create(request):
    again = _order_to_reorder(request)
    if again is not None and request.method == "GET":
        refusal = services.order_again_refusal(again)
        if refusal:
            messages.error(request, refusal)
            return redirect(again)
    offer = again.offer if again is not None else _chosen_offer(request)
    if offer is None:
        if request.method == "POST":
            return redirect("orders:order_create")
        return _offer_picker(request)
    if request.method == "GET":
        offer, price_error = _live_price(offer, request.user)
        servers, server_error = lookups.game_servers(offer)
        initial = {"max_unit_price": services.money(offer.price), "quantity": 1}
        if again is not None:
            initial.update(_reorder_initial(again))
        form = OrderForm(offer=offer, servers=servers, initial=initial, again=again)
        context = _form_context(
            offer,
            form,
            user=request.user,
            price_error=price_error,
            server_error=server_error,
            again=again,
        )
        return render(request, "orders/order_form.html", context)

    action = request.POST.get("action", "place")
    if action == "check_player":
        return _check_player_view(request, offer)
    if action == "resolve_telegram":
        return _resolve_telegram_view(request, offer)
    return _place(request, offer, again)


def _redisplay(request, offer, template_partial: str, **extra):
    """The form again with what was typed (unbound, so no errors yet), or just one partial."""
    page = Page(request, "orders/order_form.html", htmx_partial=template_partial)
    # Only the whole form shows the server list: a partial need not ask the supplier for it.
    servers, server_error = lookups.game_servers(offer) if page.partial is None else ((), "")
    again = _order_to_reorder(request)
    form = OrderForm(offer=offer, servers=servers, initial=request.POST.dict(), again=again)
    context = _form_context(
        offer,
        form,
        user=request.user,
        server_error=server_error,
        request_key=_posted_request_key(request),
        again=again,
        **extra,
    )
    return page.render(context)


def _check_player_view(request, offer):
    game_user_id = request.POST.get("game_user_id", "").strip()[:64]
    game_server_id = request.POST.get("game_server_id", "").strip()[:64]
    check = _check_player(offer, game_user_id, game_server_id)
    return _redisplay(
        request, offer, "player-check", player_check=check, checked_player=game_user_id
    )


def _resolve_telegram_view(request, offer):
    username = request.POST.get("telegram_username", "").strip()[:64]
    resolution = (
        lookups.telegram_user(offer.account, username)
        if username
        else lookups.TelegramResolution(None, problem="Enter the @username first.")
    )
    return _redisplay(
        request, offer, "telegram-check", telegram=resolution, telegram_username=username
    )


def _posted_request_key(request) -> str:
    key = request.POST.get("request_key", "")
    return key if re.fullmatch(r"[0-9a-f]{32}", key) else ""


def _place(request, offer, again: Order | None):
    request_key = _posted_request_key(request)
    servers, server_error = lookups.game_servers(offer)
    form = OrderForm(request.POST, offer=offer, servers=servers, again=again)
    price_error = ""
    extra: dict[str, object] = {}
    if form.is_valid():
        data = form.cleaned_data
        # The live price just before ordering: it is the price the orders are placed at.
        offer, price_error = _live_price(offer, request.user)
        if price_error:
            form.add_error(None, f"No live price, so nothing was ordered: {price_error}")
        game_user_id = data.get("game_user_id", "")
        if not form.errors and form.stars:
            resolution = lookups.telegram_user(offer.account, data["telegram_username"])
            extra["telegram"] = resolution
            if resolution.user_id is None:
                form.add_error("telegram_username", resolution.problem)
            else:
                game_user_id = str(resolution.user_id)
        elif not form.errors and offer.requires_user_id:
            check = _check_player(offer, game_user_id, data.get("game_server_id", ""))
            extra.update(player_check=check, checked_player=game_user_id)
            if check.valid is False:
                form.add_error(
                    "game_user_id",
                    check.problem or "The supplier says this player id is INVALID.",
                )
            elif check.valid is None and check.available:
                form.add_error("game_user_id", check.problem)
        if not form.errors:
            try:
                orders = services.order_create(
                    offer=offer,
                    quantity=data["quantity"],
                    game_user_id=game_user_id,
                    game_server_id=data.get("game_server_id", ""),
                    email=data["email"],
                    telegram_username=data.get("telegram_username", ""),
                    customer_reference=data["customer_reference"],
                    max_unit_price=data["max_unit_price"],
                    quoted_price=offer.price,
                    request_key=request_key,
                    reorder_of=again,
                    by=request.user,
                    request=request,
                )
            except AlreadyPlaced as placed:
                messages.info(request, f"{placed.message} Nothing was ordered twice.")
                return _show_orders(placed.order_ids)
            except ApplicationError as error:
                form.add_error(None, error.message)
            else:
                return _placed(request, offer, orders)
    context = _form_context(
        offer,
        form,
        user=request.user,
        price_error=price_error,
        server_error=server_error,
        request_key=request_key,
        again=again,
        **extra,
    )
    return render(request, "orders/order_form.html", context, status=200)


def _placed(request, offer, orders):
    count = len(orders)
    price = services.money(orders[0].quoted_price)
    what = f"{offer.product_name} · {offer.offer_name}"
    if orders[0].status == OrderStatus.AWAITING_APPROVAL:
        messages.success(
            request,
            f"{what}: above the approval threshold, so {'it waits' if count == 1 else 'they wait'}"
            " for a second person to approve. Nothing is sent before that.",
        )
        return _show_orders([order.pk for order in orders])
    if count == 1:
        messages.success(request, f"Order placed: {what} at {price} {offer.currency}.")
        return redirect(orders[0])
    messages.success(request, f"{count} orders placed: {what} at {price} {offer.currency} each.")
    return _show_orders([order.pk for order in orders])


def _show_orders(order_ids: list[int]):
    if len(order_ids) == 1:
        return redirect("orders:order_detail", order_pk=order_ids[0])
    return redirect(f"{reverse('orders:order_list')}?ids={','.join(str(pk) for pk in order_ids)}")


# --- the order list and its CSV -----------------------------------------------------------------


def _order_filter(request):
    return OrderFilter(request.GET or None, queryset=selectors.order_list())


@permission_required("orders.view_order", raise_exception=True)
@require_GET
def order_list(request):
    filterset = _order_filter(request)
    page = Paginator(filterset.qs, PAGE_SIZE).get_page(request.GET.get("page"))
    held = selectors.held_order_counts()
    queues = [
        (queue, held.get(queue.account_id, 0)) for queue in selectors.account_queues_on_hold()
    ]
    sort = request.GET.get("sort", "")
    context = {
        "filter": filterset,
        "page": page,
        "moving": any(selectors.order_is_moving(order) for order in page),
        "held_queues": queues,
        "query": without_empty(request.GET, drop=("page",)),
        "sort_query": without_empty(request.GET, drop=("page", "sort")),
        "next_sort": "-created" if sort == "created" else "created",
        "sort": sort,
        "filtered": bool(without_empty(request.GET, drop=("page", "sort"))),
    }
    # The results re-polling themselves (while orders move) leave the address as it is.
    return render_page(
        request, "orders/order_list.html", context, partials=["results"], push_url=True
    )


EXPORT_HEADER = [
    "order_id", "created_at", "status", "transaction_id", "supplier_order_id", "account",
    "offer_id", "product", "offer", "units", "units_delivered", "unit_price", "max_unit_price",
    "currency", "customer_reference", "email", "player_id", "server_id", "telegram_username",
    "batch", "row", "supplier_status", "supplier_message", "last_error", "delivered_at",
    "final_at",
]  # fmt: skip


@permission_required("orders.view_order", raise_exception=True)
@require_GET
def order_export(request):
    """The list's current filter as CSV. Never any key: those need the reveal or export."""
    orders = _order_filter(request).qs

    def rows():
        for order in orders.iterator(chunk_size=2000):
            price = order.price_sent if order.price_sent is not None else order.quoted_price
            yield [
                order.pk,
                order.created_at,
                order.status,
                order.transaction_id,
                order.supplier_order_id,
                order.account.name,
                order.offer.offer_id,
                order.offer.product_name,
                order.offer.offer_name,
                order.units,
                order.units_delivered,
                price,
                order.max_unit_price,
                order.currency,
                order.customer_reference,
                order.email,
                order.game_user_id,
                order.game_server_id,
                order.telegram_username,
                order.batch_id,
                order.row_number,
                order.supplier_status,
                order.supplier_message,
                order.last_error,
                order.delivered_at,
                order.final_at,
            ]

    return csv_download(EXPORT_HEADER, rows(), name="orders")


# --- one order ----------------------------------------------------------------------------------


def _detail_context(request, order: Order, **extra) -> dict:
    keys = selectors.order_keys_masked(order=order)
    names = selectors.order_actions_available(order=order, has_keys=bool(keys))
    actions = [
        (name, services.ORDER_ACTIONS[name])
        for name in names
        if request.user.has_perm(services.ORDER_ACTIONS[name].permission)
    ]
    approval = selectors.spend_approval_of_order(order=order)
    return {
        "order": order,
        "offer": order.offer,
        "ordered_again_as": selectors.order_ordered_again_as(order=order),
        "can_order_again": request.user.has_perm("orders.add_order")
        and not services.order_again_refusal(order),
        "events": selectors.order_events(order=order),
        "transaction_ids": order.transaction_ids.all(),
        "attempts": order.attempts.select_related("account", "offer") if order.product_id else (),
        "keys": keys,
        "actions": actions,
        "moving": selectors.order_is_moving(order),
        "can_reveal": request.user.has_perm("orders.reveal_key"),
        "approval": approval,
        "approval_rows": [approval] if approval is not None else [],
        **extra,
    }


@permission_required("orders.view_order", raise_exception=True)
@require_GET
def order_detail(request, order_pk: int):
    order = get_object_or_404(selectors.order_list(), pk=order_pk)
    return render_page(
        request,
        "orders/order_detail.html",
        _detail_context(request, order),
        partials=["order-live"],
    )


@permission_required("orders.view_order", raise_exception=True)
@require_POST
@never_cache
@fresh_proof_required
def order_key_reveal(request, order_pk: int):
    """The order's keys in this response only. The service audits every attempt, a refused one
    too; a refusal is a 403 page (or, for htmx, the refusal in place of the keys)."""
    order = get_object_or_404(selectors.order_list(), pk=order_pk)
    page = Page(request, "orders/order_detail.html", htmx_partial="keys")
    try:
        revealed = services.order_key_reveal(order=order, user=request.user, request=request)
    except PermissionDenied:
        context = _detail_context(request, order, reveal_refused=True)
        # htmx swaps a 200 only: the refusal goes in place of the keys.
        return page.render(context, status=200 if page.partial else 403)
    context = _detail_context(request, order, revealed=list(enumerate(revealed, start=1)))
    return page.render(context)


def _action_inputs(action: str, post) -> dict:
    """What each operator action takes from its form, beyond the order and the operator."""
    if action == "mark_resolved":
        return {"comment": post.get("comment", "")[:2000]}
    if action == "withdraw":
        return {"reason": post.get("reason", "")[:500]}
    if action == "resend":
        return {"resend": True}
    if action == "record_found":
        return {"supplier_order_id": post.get("supplier_order_id", "")[:40]}
    if action == "record_not_bought":
        return {"comment": post.get("comment", "")[:2000]}
    return {}


def _action_done(action: str, order: Order, result) -> str:
    if action == "resend":
        if not result:
            return "Nothing sent: a delivery of this order is being sent right now."
        return f"Sent to {order.email}."
    if action == "recheck":
        return f"Status checked with the supplier: {result.get_status_display()}."
    if action == "retry":
        return "Price checked; the order is queued again under a new transaction id."
    if action == "withdraw":
        return "Withdrawn: it will not be sent."
    if action == "mark_resolved":
        return "Marked resolved."
    if action == "record_found":
        return (
            f"Recorded: supplier order {result.supplier_order_id}; the order is followed now "
            f"({result.get_status_display()})."
        )
    if action == "record_not_bought":
        return "Recorded as not bought: withdrawn, not charged."
    return f"{services.ORDER_ACTIONS[action].label}: done."


def order_action(request, order_pk: int, action: str):
    """Every operator action on one order, by name from the engine's whitelist: unknown → 404,
    without its permission → 403, then POST only."""
    operator_action = services.ORDER_ACTIONS.get(action)
    if operator_action is None:
        raise Http404("No such action.")
    if not request.user.has_perm(operator_action.permission):
        raise PermissionDenied
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    order = get_object_or_404(selectors.order_list(), pk=order_pk)
    try:
        result = operator_action.service(
            order=order, by=request.user, request=request, **_action_inputs(action, request.POST)
        )
    except ApplicationError as error:
        messages.error(request, error.message)
    except (smtplib.SMTPException, OSError) as error:
        messages.error(request, f"The email could not be sent: {type(error).__name__}.")
    else:
        messages.success(request, _action_done(action, order, result))
    return redirect(order)


@permission_required("orders.change_accountqueue", raise_exception=True)
@require_POST
def account_queue_resume(request, account_pk: int):
    account = get_object_or_404(SupplierAccount, pk=account_pk)
    resume = services.ACCOUNT_QUEUE_ACTIONS["resume"]
    if not request.user.has_perm(resume.permission):
        raise PermissionDenied
    try:
        released = resume.service(account=account, by=request.user, request=request)
    except ApplicationError as error:
        messages.error(request, error.message)
    else:
        messages.success(
            request,
            f"The queue of {account} is running again; {released} held "
            f"order{'s' if released != 1 else ''} sent again now.",
        )
    return redirect("orders:order_list")


OFFER_ORDERS_SHOWN = 20


@permission_required("orders.view_order", raise_exception=True)
@require_GET
def offer_orders(request, offer_pk: int):
    """The latest orders of one offer: a section the catalog's offer page loads, or a page."""
    offer = get_object_or_404(Offer, pk=offer_pk)
    context = {
        "offer": offer,
        "orders": selectors.order_list().filter(offer=offer)[:OFFER_ORDERS_SHOWN],
    }
    return render_page(request, "orders/offer_orders.html", context, htmx_partial="orders")


@permission_required("orders.view_order", raise_exception=True)
@require_GET
def product_routing(request, product_pk: int):
    """How an order for the product would be routed now: a section the catalog's product page
    loads, or a page."""
    product = get_object_or_404(Product, pk=product_pk)
    context = {"product": product, "choices": product_routes_now(product)}
    return render_page(request, "orders/product_routing.html", context, htmx_partial="routing")

"""Product pages: the list, a new product, a product with its routes and suggested offers."""

from decimal import Decimal

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from catalog import products
from catalog.models import Offer, Product, ProductRoute
from reseller.core.forms import DecimalField, number_formfield
from reseller.core.ids import typed_id


class ProductForm(forms.ModelForm):
    formfield_callback = number_formfield

    class Meta:
        model = Product
        fields = [
            "code",
            "name",
            "kind",
            "denomination",
            "region",
            "customer_gives",
            "retail_price",
            "policy",
        ]

    def clean_code(self):
        code = self.cleaned_data["code"].strip().lower()
        taken = Product.objects.filter(code=code).exclude(pk=self.instance.pk)
        if taken.exists():
            raise forms.ValidationError("Another product has this code.")
        return code

    def clean_retail_price(self):
        price = self.cleaned_data["retail_price"]
        if price is not None and price <= 0:
            raise forms.ValidationError("A retail price is more than zero.")
        return price


@permission_required("catalog.view_product", raise_exception=True)
@require_GET
def product_list(request):
    return render(request, "catalog/product_list.html", {"products": products.product_list()})


@permission_required("catalog.add_product", raise_exception=True)
@require_http_methods(["GET", "POST"])
def product_create(request):
    form = ProductForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        product = products.product_save(
            product=form.save(commit=False), by=request.user, request=request
        )
        messages.success(request, f"Product {product.code} created; attach its offers below.")
        return redirect("catalog:product_detail", product_pk=product.pk)
    return render(request, "catalog/product_form.html", {"form": form, "product": None})


@permission_required("catalog.change_product", raise_exception=True)
@require_http_methods(["GET", "POST"])
def product_edit(request, product_pk: int):
    product = get_object_or_404(Product, pk=product_pk)
    form = ProductForm(request.POST or None, instance=product)
    if request.method == "POST" and form.is_valid():
        products.product_save(product=form.save(commit=False), by=request.user, request=request)
        messages.success(request, "Product saved.")
        return redirect("catalog:product_detail", product_pk=product.pk)
    return render(request, "catalog/product_form.html", {"form": form, "product": product})


@permission_required("catalog.view_product", raise_exception=True)
@require_GET
def product_detail(request, product_pk: int):
    product = get_object_or_404(Product, pk=product_pk)
    routes = list(products.product_routes(product))
    context = {
        "product": product,
        "routes": [route for route in routes if route.is_active],
        "dropped": [route for route in routes if not route.is_active],
        "suggestions": (
            products.product_suggestions(product)
            if request.user.has_perm("catalog.add_productroute")
            else []
        ),
    }
    return render(request, "catalog/product_detail.html", context)


@permission_required("catalog.add_productroute", raise_exception=True)
@require_POST
def product_route_attach(request, product_pk: int):
    product = get_object_or_404(Product, pk=product_pk)
    offer_pk = typed_id(request.POST.get("offer"))
    offer = (
        Offer.objects.select_related("account").filter(pk=offer_pk).first() if offer_pk else None
    )
    if offer is None:
        messages.error(request, "Choose an offer to attach.")
    else:
        try:
            products.product_route_attach(
                product=product, offer=offer, by=request.user, request=request
            )
        except products.ProductRouteRefused as error:
            messages.error(request, error.message)
        else:
            messages.success(request, f"{offer} ({offer.account.name}) attached.")
    return redirect("catalog:product_detail", product_pk=product.pk)


@permission_required("catalog.change_productroute", raise_exception=True)
@require_POST
def product_route_change(request, route_pk: int):
    route = get_object_or_404(ProductRoute.objects.select_related("offer__account"), pk=route_pk)
    action = request.POST.get("action")
    try:
        if action == "detach" and request.user.has_perm("catalog.delete_productroute"):
            products.product_route_detach(route=route, by=request.user, request=request)
            messages.success(request, f"{route.offer} detached.")
        elif action == "limit":
            text = request.POST.get("max_unit_price", "").strip()
            limit = DecimalField(required=False, min_value=Decimal("0.0001")).clean(text)
            products.product_route_set_limit(
                route=route, max_unit_price=limit, by=request.user, request=request
            )
            messages.success(request, "Price limit saved.")
        elif action in ("up", "down"):
            products.product_route_move(
                route=route, up=action == "up", by=request.user, request=request
            )
        else:
            messages.error(request, "Nothing to do.")
    except products.ProductRouteRefused as error:
        messages.error(request, error.message)
    except forms.ValidationError as error:
        messages.error(request, f"Price limit: {' '.join(error.messages)}")
    return redirect("catalog:product_detail", product_pk=route.product_id)

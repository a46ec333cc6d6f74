from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from reseller.core.signin_views import SignInView

urlpatterns = [
    path("accounts/login/", SignInView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("suppliers/", include("suppliers.urls")),
    path("catalog/", include("catalog.urls")),
    path("orders/", include("orders.urls")),
    path("finance/", include("finance.urls")),
    path("", include("dashboard.urls")),
    path("", include("reseller.core.urls")),
]

handler403 = "reseller.core.errorpages.permission_denied"

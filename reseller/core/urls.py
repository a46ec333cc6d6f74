from django.urls import path

from reseller.core import signin_views, views

app_name = "core"

urlpatterns = [
    path("healthz", views.healthz, name="healthz"),
    path("staff/", views.staff_list, name="staff_list"),
    path("staff/<int:user_id>/", views.staff_detail, name="staff_detail"),
    path("audit/", views.audit_list, name="audit_list"),
    path("audit/export.csv", views.audit_export, name="audit_export"),
    # The steps after the password, before one is signed in.
    path("accounts/sign-in/code/", signin_views.sign_in_code, name="sign_in_code"),
    path("accounts/sign-in/password/", signin_views.sign_in_password, name="sign_in_password"),
    path("accounts/two-factor/", signin_views.two_factor_enrol, name="two_factor_enrol"),
    path("accounts/confirm/", signin_views.confirm_identity, name="confirm_identity"),
    # My account.
    path("account/", signin_views.account, name="account"),
    path("account/password/", signin_views.password_change, name="password_change"),
    path(
        "account/recovery-codes/",
        signin_views.recovery_codes_renew,
        name="recovery_codes_renew",
    ),
    path("account/two-factor/remove/", signin_views.two_factor_remove, name="two_factor_remove"),
    path(
        "account/sign-out-everywhere/",
        signin_views.sign_out_everywhere,
        name="sign_out_everywhere",
    ),
]

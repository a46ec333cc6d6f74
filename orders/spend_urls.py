from django.urls import path

from orders import spend_views

urlpatterns = [
    path("limits/", spend_views.spend_limits, name="spend_limits"),
    path("limits/save/", spend_views.spend_limit_save, name="spend_limit_save"),
    path("approvals/", spend_views.approval_list, name="approval_list"),
    path(
        "approvals/<int:approval_pk>/decide/",
        spend_views.approval_decide,
        name="approval_decide",
    ),
]

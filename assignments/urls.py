from django.urls import path

from assignments import views

app_name = "assignments"
urlpatterns = [
    path("licenses/", views.LicenseListView.as_view(), name="licenses"),
    path("licenses/<int:pk>/revoke/", views.LicenseRevokeView.as_view(), name="license-revoke"),
    path("runs/", views.LicenseRunListView.as_view(), name="runs"),
    path("runs/<int:pk>/", views.LicenseRunDetailView.as_view(), name="run-detail"),
    path("reconciliation/", views.ReconciliationView.as_view(), name="reconciliation"),
    path("reconciliation/<int:token_id>/", views.ReconcileActionView.as_view(), name="reconcile"),
    path("apps/<int:app_id>/", views.AppAssignmentsView.as_view(), name="app-assignments"),
    path("apps/<int:app_id>/preflight/", views.PreflightView.as_view(), name="preflight"),
    path("apps/<int:app_id>/install/", views.InstallView.as_view(), name="install"),
    path("apps/<int:app_id>/revoke-licenses/", views.AppRevokeView.as_view(), name="app-revoke"),
    path("assignments/<int:pk>/delete/", views.AssignmentDeleteView.as_view(), name="assignment-delete"),
    path(
        "assignments/<int:pk>/allocate/", views.AssignmentAllocateView.as_view(), name="assignment-allocate"
    ),
    path("devices/<int:device_id>/revoke-licenses/", views.DeviceRevokeView.as_view(), name="device-revoke"),
    path("users/<int:user_id>/revoke-licenses/", views.UserRevokeView.as_view(), name="user-revoke"),
]

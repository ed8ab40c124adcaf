from django.urls import path

from reports import views

app_name = "reports"
urlpatterns = [
    path("app-licenses/", views.AppLicensesView.as_view(), name="app-licenses"),
    path("install-status/", views.InstallStatusView.as_view(), name="install-status"),
    path("assignments/", views.AssignmentListView.as_view(), name="assignments"),
    path("exports/users/<int:pk>/licenses.csv", views.UserLicensesExportView.as_view(), name="user-licenses"),
    path(
        "exports/devices/<int:pk>/licenses.csv",
        views.DeviceLicensesExportView.as_view(),
        name="device-licenses",
    ),
    path("exports/groups/<int:pk>/members.csv", views.GroupMembersExportView.as_view(), name="group-members"),
    path(
        "exports/reconciliation-drift.csv",
        views.ReconciliationDriftExportView.as_view(),
        name="reconciliation-drift",
    ),
]

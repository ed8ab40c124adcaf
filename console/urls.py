from django.urls import path

from console import views

urlpatterns = [
    path("healthz", views.healthz, name="healthz"),
    path("audit-log/", views.AuditLogView.as_view(), name="audit-log"),
    path("sign-in-lockouts/", views.LockoutListView.as_view(), name="sign-in-lockouts"),
    path("sign-in-lockouts/<int:pk>/lift/", views.LockoutLiftView.as_view(), name="sign-in-lockout-lift"),
    path("runs/", views.RunListView.as_view(), name="runs"),
    path("runs/<int:pk>/", views.RunDetailView.as_view(), name="run"),
    path("runs/<int:pk>/progress/", views.RunProgressView.as_view(), name="run-progress"),
    path("api-keys/", views.ApiKeysView.as_view(), name="api-keys"),
    path("api-keys/<int:pk>/revoke/", views.ApiKeyRevokeView.as_view(), name="api-key-revoke"),
]

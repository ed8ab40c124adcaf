from django.urls import path

from console import views

urlpatterns = [
    path("healthz", views.healthz, name="healthz"),
    path("audit-log/", views.AuditLogView.as_view(), name="audit-log"),
]

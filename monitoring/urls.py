from django.urls import path

from monitoring import views

app_name = "monitoring"
urlpatterns = [
    path("alerts/", views.AlertListView.as_view(), name="alerts"),
    path("alerts/<int:pk>/", views.AlertDetailView.as_view(), name="alert"),
    path("alerts/<int:pk>/acknowledge/", views.AlertAcknowledgeView.as_view(), name="alert-acknowledge"),
    path("charts/<slug:name>.svg", views.ChartView.as_view(), name="chart"),
]

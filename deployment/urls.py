from django.urls import path

from deployment import views

app_name = "deployment"
urlpatterns = [
    path("apps/<int:app_id>/devices/", views.DeviceStatusView.as_view(), name="device-status"),
    path("apps/<int:app_id>/users/", views.UserStatusView.as_view(), name="user-status"),
]

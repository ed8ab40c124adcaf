from django.urls import path

from directory import views

app_name = "directory"
urlpatterns = [
    path("users/", views.UserListView.as_view(), name="users"),
    path("users/new/", views.UserCreateView.as_view(), name="user-create"),
    path("users/<int:pk>/", views.UserDetailView.as_view(), name="user-detail"),
    path("users/<int:pk>/edit/", views.UserUpdateView.as_view(), name="user-edit"),
    path("users/<int:pk>/deactivate/", views.UserDeactivateView.as_view(), name="user-deactivate"),
    path("users/<int:pk>/reactivate/", views.UserReactivateView.as_view(), name="user-reactivate"),
    path("devices/", views.DeviceListView.as_view(), name="devices"),
    path("devices/new/", views.DeviceCreateView.as_view(), name="device-create"),
    path("devices/<int:pk>/", views.DeviceDetailView.as_view(), name="device-detail"),
    path("devices/<int:pk>/edit/", views.DeviceUpdateView.as_view(), name="device-edit"),
    path("devices/<int:pk>/retire/", views.DeviceRetireView.as_view(), name="device-retire"),
    path("groups/", views.GroupListView.as_view(), name="groups"),
    path("groups/new/", views.GroupCreateView.as_view(), name="group-create"),
    path("groups/<int:pk>/", views.GroupDetailView.as_view(), name="group-detail"),
    path("groups/<int:pk>/edit/", views.GroupUpdateView.as_view(), name="group-edit"),
    path("groups/<int:pk>/delete/", views.GroupDeleteView.as_view(), name="group-delete"),
    path("groups/<int:pk>/members/add/", views.GroupAddMembersView.as_view(), name="group-add-members"),
    path(
        "groups/<int:pk>/members/remove/", views.GroupRemoveMembersView.as_view(), name="group-remove-members"
    ),
    path("import/", views.ImportView.as_view(), name="import"),
]

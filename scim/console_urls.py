from django.urls import path

from scim import console_views

app_name = "scim-clients"
urlpatterns = [
    path("", console_views.ScimClientListView.as_view(), name="list"),
    path("new/", console_views.ScimClientCreateView.as_view(), name="create"),
    path("<int:pk>/", console_views.ScimClientDetailView.as_view(), name="detail"),
    path("<int:pk>/new-token/", console_views.ScimClientNewTokenView.as_view(), name="new-token"),
    path("<int:pk>/revoke/", console_views.ScimClientRevokeView.as_view(), name="revoke"),
]

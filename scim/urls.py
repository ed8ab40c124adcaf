"""/scim/v2/: django-scim2's routes, with the directory's views (see scim/views.py).

A slash more or less is tolerated: a tenant URL entered with a trailing slash makes some clients ask for
`/scim/v2//Users`, others add one at the end.
"""

from django.urls import re_path

from scim import views

app_name = "scim"

urlpatterns = [
    re_path(r"^[/]?$", views.NotImplementedView.as_view(implemented=False), name="root"),
    re_path(r"^[/]?\.search/?$", views.NotImplementedView.as_view(implemented=False), name="search"),
    re_path(r"^[/]?Users/\.search/?$", views.UserSearchView.as_view(), name="users-search"),
    re_path(r"^[/]?Users(?:/(?P<uuid>[^/]+))?/?$", views.UsersView.as_view(), name="users"),
    re_path(r"^[/]?Groups/\.search/?$", views.GroupSearchView.as_view(), name="groups-search"),
    re_path(r"^[/]?Groups(?:/(?P<uuid>[^/]+))?/?$", views.GroupsView.as_view(), name="groups"),
    re_path(r"^[/]?Me/?$", views.NotImplementedView.as_view(implemented=False), name="me"),
    re_path(
        r"^[/]?ServiceProviderConfig/?$",
        views.scim_views.ServiceProviderConfigView.as_view(),
        name="service-provider-config",
    ),
    re_path(
        r"^[/]?ResourceTypes(?:/(?P<uuid>[^/]+))?/?$",
        views.ResourceTypesView.as_view(),
        name="resource-types",
    ),
    re_path(r"^[/]?Schemas(?:/(?P<uuid>[^/]+))?/?$", views.SchemasView.as_view(), name="schemas"),
    re_path(r"^[/]?Bulk/?$", views.NotImplementedView.as_view(implemented=False), name="bulk"),
    re_path(r"^.+$", views.UnknownView.as_view(), name="unknown"),
]

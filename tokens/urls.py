from django.urls import path

from tokens import views

app_name = "tokens"
urlpatterns = [
    path("", views.TokenListView.as_view(), name="list"),
    path("create/", views.TokenCreateView.as_view(), name="create"),
    path("sync-all/", views.TokenSyncAllView.as_view(), name="sync-all"),
    path("<int:pk>/", views.TokenDetailView.as_view(), name="detail"),
    path("<int:pk>/edit/", views.TokenEditView.as_view(), name="edit"),
    path("<int:pk>/delete/", views.TokenDeleteView.as_view(), name="delete"),
    path("<int:pk>/sync/", views.TokenSyncView.as_view(), name="sync"),
    path("<int:pk>/take-control/", views.TokenTakeControlView.as_view(), name="take-control"),
    path("sync-runs/", views.SyncRunListView.as_view(), name="sync-runs"),
    path("sync-runs/<int:pk>/", views.SyncRunDetailView.as_view(), name="sync-run"),
    path("sync-runs/<int:pk>/progress/", views.RunProgressView.as_view(), name="run-progress"),
]

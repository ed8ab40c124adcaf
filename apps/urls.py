from django.urls import path

from apps import views

app_name = "apps"
urlpatterns = [
    path("", views.AppListView.as_view(), name="list"),
    path("books/", views.BookListView.as_view(), name="books"),
    path("<int:pk>/", views.AppDetailView.as_view(), name="detail"),
]

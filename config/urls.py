from django.conf import settings
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from console.api import build_router
from console.metrics import metrics_view

router = build_router()

urlpatterns = [
    path("", include("console.urls")),
    path("login/", auth_views.LoginView.as_view(template_name="registration/login.html"), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("tokens/", include("tokens.urls")),
    path("apps/", include("apps.urls")),
    path("directory/", include("directory.urls")),
    path("assignments/", include("assignments.urls")),
    path("api/v1/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/v1/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("api/v1/", include(router.urls)),
    path("django-admin/", admin.site.urls),
    path("metrics", metrics_view, name="metrics"),  # 404 unless PROMETHEUS_METRICS=1
]

if settings.DEBUG:
    from django.conf.urls.static import static

    urlpatterns += static(settings.STATIC_URL, document_root=settings.STATIC_ROOT)

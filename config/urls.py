"""The URL map. `config` is the top layer: it composes the pages and API resources of every app.

The token pages (`tokens:`) gather the tokens app's own pages, the license action the assignments app adds to
a token, and Apple's notification webhook served by the inbound path (`applesync`).
"""

from csp.constants import UNSAFE_INLINE
from csp.decorators import csp_update
from django.conf import settings
from django.conf.urls.static import static
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.routers import DefaultRouter

import apps.api
import assignments.api
import console.api_views
import deployment.api
import directory.api
import monitoring.api
import reports.api
import tokens.api
import tokens.urls
from applesync.notifications import notify_view
from assignments.views import TokenRevokeView
from console.metrics import metrics_view
from deployment.webhooks import nanomdm_webhook
from home.views import HomeView

API_MODULES = (
    console.api_views,
    tokens.api,
    apps.api,
    directory.api,
    assignments.api,
    deployment.api,
    monitoring.api,
    reports.api,
)

router = DefaultRouter()
for module in API_MODULES:
    module.register(router)

# Swagger UI's page: its start-up script is a separate file (no inline script); its own <style> stays.
api_docs = csp_update({"style-src": [UNSAFE_INLINE]})(
    SpectacularSwaggerSplitView.as_view(url_name="api-schema")
)

token_urls = [
    *tokens.urls.urlpatterns,
    path("<int:pk>/revoke-licenses/", TokenRevokeView.as_view(), name="revoke-licenses"),
    path("notify/<uuid:mdm_info_id>/", notify_view, name="notify"),
]

urlpatterns = [
    path("", HomeView.as_view(), name="home"),
    path("", include("console.urls")),
    path("login/", auth_views.LoginView.as_view(template_name="registration/login.html"), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("tokens/", include((token_urls, tokens.urls.app_name))),
    path("apps/", include("apps.urls")),
    path("directory/", include("directory.urls")),
    path("assignments/", include("assignments.urls")),
    path("deployment/", include("deployment.urls")),
    path("monitor/", include("monitoring.urls")),
    path("reports/", include("reports.urls")),
    path("webhooks/nanomdm/", nanomdm_webhook, name="nanomdm-webhook"),
    path("api/v1/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/v1/docs/", api_docs, name="api-docs"),
    path("api/v1/", include(router.urls)),
    path("scim/v2/", include("scim.urls")),
    path("scim-clients/", include("scim.console_urls")),
    path("django-admin/", admin.site.urls),
    path("metrics", metrics_view, name="metrics"),  # 404 unless PROMETHEUS_METRICS=1
]

if settings.DEBUG:
    urlpatterns += static(settings.STATIC_URL, document_root=settings.STATIC_ROOT)

# Error pages: the console's templates (403.html, 404.html, 500.html), JSON under /api/.
handler403 = "console.views.permission_denied"
handler404 = "console.views.page_not_found"
handler500 = "console.views.server_error"

from django.contrib import admin
from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect
from django.urls import include, path, reverse
from django.utils.http import urlencode
from django.utils.translation import gettext_lazy as _
from django.views.decorators.cache import cache_page
from django.views.generic import RedirectView
from django.views.i18n import JavaScriptCatalog

from config.security import csp_report
from directory.context_processors import js_catalog_version
from directory.views_account import settings_view
from directory.views_pwa import manifest, service_worker
from home import views as home_views


@login_not_required
def admin_login(request, extra_context=None):
    """The admin signs in through allauth too, so throttling and two-factor cover it."""
    if request.user.is_authenticated:
        raise PermissionDenied
    return redirect(
        reverse("account_login") + "?" + urlencode({"next": request.GET.get("next", "/admin/")})
    )


admin.site.login = admin_login
admin.site.site_header = _("Honbu administration")
admin.site.site_title = _("Honbu administration")

urlpatterns = [
    path("", home_views.home, name="home"),
    path("directory/", include("directory.urls")),
    path("messages/", include("messaging.urls")),
    path("notifications/", include("notifications.urls")),
    path("", include("safety.urls")),
    path("drills/", include("drills.urls")),
    path("calls/", include("calls.urls")),
    # Where notification settings and banners lived before the notifications app (links in
    # e-mails and push notifications already sent).
    path("messages/notifications/", RedirectView.as_view(url="/notifications/", permanent=True)),
    path(
        "messages/notifications/<int:notification_id>/open/",
        RedirectView.as_view(url="/notifications/%(notification_id)s/open/", permanent=True),
    ),
    path("settings/", settings_view, name="settings"),
    path("accounts/", include("allauth.urls")),
    path("admin/", admin.site.urls),
    path("i18n/", include("django.conf.urls.i18n")),
    # Every page loads the catalogue; build it once per language and version (the cache key
    # includes the active language), and let browsers keep it: the URL carries both.
    path(
        "jsi18n/",
        login_not_required(
            cache_page(86400, key_prefix=f"jsi18n-{js_catalog_version()}")(
                JavaScriptCatalog.as_view()
            )
        ),
        name="javascript-catalog",
    ),
    path("manifest.webmanifest", manifest, name="manifest"),
    path("sw.js", service_worker, name="service_worker"),
    path("csp-report/", csp_report, name="csp_report"),
]
handler500 = "config.security.server_error"

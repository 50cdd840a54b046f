"""The operators' admin as a product: its site (name, links, dashboard), the operators' own accounts, and the
admin pages that join several domain apps (the audit log, which links events to users and clients)."""

from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps
from django.utils.translation import gettext_lazy as _


class AdminsiteConfig(AppConfig):
    """The ``adminsite`` app: what the admin index shows under "Operators" and the templates of the site."""

    default = True
    name = "adminsite"
    verbose_name = _("Operators")


class UserdirAdminConfig(admin_apps.AdminConfig):
    """Django's admin app with ``adminsite.sites.UserdirAdminSite`` as ``admin.site``, so every
    ``@admin.register`` of the domain apps lands on the branded site with the dashboard."""

    default = False
    default_site = "adminsite.sites.UserdirAdminSite"

"""Auth0's names for connection strategies, from its Management API OpenAPI document
(``reference/auth0-management-oas.json``, dated 2026-06-25; copied because the reference is not shipped with the
code). This service stores three of them (``connections.models.Strategy``); the others are told apart from names
that are wrong: a tenant file's connection of another Auth0 strategy is skipped and reported (``tenants.loader``), a
list filtered by one answers none, and a name Auth0 does not know is a 400.
"""

from __future__ import annotations

# ``ConnectionIdentityProviderEnum``: the ``strategy`` a connection is created with (``POST /api/v2/connections``).
# fmt: off
IDENTITY_PROVIDERS: frozenset[str] = frozenset((
    "ad", "adfs", "amazon", "apple", "dropbox", "bitbucket", "auth0-oidc", "auth0", "baidu", "bitly", "box",
    "custom", "daccount", "dwolla", "email", "evernote-sandbox", "evernote", "exact", "facebook", "fitbit",
    "github", "google-apps", "google-oauth2", "instagram", "ip", "line", "linkedin", "oauth1", "oauth2",
    "office365", "oidc", "okta", "paypal", "paypal-sandbox", "pingfederate", "planningcenter",
    "salesforce-community", "salesforce-sandbox", "salesforce", "samlp", "sharepoint", "shopify", "shop", "sms",
    "soundcloud", "thirtysevensignals", "twitter", "untappd", "vkontakte", "waad", "weibo", "windowslive",
    "wordpress", "yahoo", "yandex",
))
# fmt: on

# ``ConnectionStrategyEnum``: the values of the connections list's ``strategy`` filter (``GET /api/v2/connections``),
# which also names AD/LDAP connections (created by Auth0's connector, not through the API).
STRATEGIES: frozenset[str] = IDENTITY_PROVIDERS | {"auth0-adldap"}

"""The admin's lists refuse query-string lookups on the fields that hold secrets or users' data no page shows
(``core.admin_lookups.HiddenFieldLookups``): Django filters on any of the model's own fields named in the query
string, so ``?password_hash__startswith=…`` would read a hidden value a guess at a time."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db

HIDDEN = [
    ("/admin/users/user/", "password_hash__startswith", "$2b$"),
    ("/admin/users/user/", "custom_password_hash__isnull", "False"),
    ("/admin/clients/client/", "secret_hash__startswith", "$2b$"),
    ("/admin/clients/client/", "secret_hash__gt", "$"),
    ("/admin/jobs/job/", "users_file__isnull", "False"),
    ("/admin/adminsite/operator/", "password__startswith", "pbkdf2"),  # Django's UserAdmin refuses these itself
    ("/admin/adminsite/operator/", "password", "x"),
    ("/admin/events/eventstream/", "signing_secret_encrypted__startswith", "gAAAA"),
    ("/admin/events/eventstream/", "authorization_secret_encrypted__contains", "A"),
    ("/admin/events/pendingevents/", "events__contains", "@example.com"),
    ("/admin/events/pendingevents/", "render_args__contains", "keys"),
]

SHOWN = [
    ("/admin/users/user/", "blocked__exact", "0"),
    ("/admin/clients/client/", "is_active__exact", "1"),
    ("/admin/jobs/job/", "status__exact", "pending"),
    ("/admin/adminsite/operator/", "is_staff__exact", "1"),
    ("/admin/events/eventstream/", "status__exact", "enabled"),
    ("/admin/events/pendingevents/", "type__exact", "user.created"),
]


@pytest.mark.parametrize(("url", "lookup", "value"), HIDDEN)
def test_a_lookup_on_a_hidden_field_is_refused(admin_client, url, lookup, value):
    assert admin_client.get(url, {lookup: value}).status_code == 400


@pytest.mark.parametrize(("url", "lookup", "value"), SHOWN)
def test_the_lists_own_filters_still_work(admin_client, url, lookup, value):
    assert admin_client.get(url, {lookup: value}).status_code == 200

"""The users admin's ticket actions: "Send password reset e-mail" and "Copy invitation links" (the API's
password-change tickets, issued by the signed-in operator)."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
from django.contrib.messages import get_messages

from audit.models import Event
from users.models import Ticket, User

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/users/user/"
LINK = re.compile(r"https?://\S+/lo/reset\?ticket=[A-Za-z0-9_-]+#")


def act(admin_client, action: str, users: list[User], **kwargs):
    data = {"action": action, "_selected_action": [user.pk for user in users]}
    return admin_client.post(CHANGELIST, data, **kwargs)


def test_send_password_reset_mails_a_link_and_skips_users_without_passwords(
    admin_client, connection, make_connection, new_user, mailoutbox
):
    make_connection(name="email", strategy="email")
    ann = User.objects.get(user_id=new_user()["user_id"])
    bob = User.objects.get(user_id=new_user(email="bob@example.com", connection="email")["user_id"])
    response = act(admin_client, "send_password_reset", [ann, bob], follow=True)
    assert response.status_code == 200
    (mail,) = mailoutbox
    assert mail.to == ["ann@example.com"]
    (link,) = LINK.findall(mail.body)
    texts = [str(message) for message in get_messages(response.wsgi_request)]
    assert "1 password reset e-mail sent." in response.content.decode()
    assert bob.user_id in response.content.decode()
    assert not any(link in text for text in texts)
    event = Event.objects.get(description="Create a password change ticket")
    assert (event.actor_kind, event.actor_id) == ("admin", "admin")
    parts = urlsplit(link)
    assert admin_client.get(f"{parts.path}?{parts.query}", follow=True).status_code == 200


def test_invitation_links_are_shown_once_on_the_answering_page(admin_client, connection, new_user):
    ann = User.objects.get(user_id=new_user()["user_id"])
    response = act(admin_client, "invitation_links", [ann])
    html = response.content.decode()
    assert response.status_code == 200
    (link,) = LINK.findall(html)
    assert "no-store" in response["Cache-Control"]
    assert response["Referrer-Policy"] == "no-referrer"
    # Nothing about it in a message cookie, and only a digest stored.
    assert "messages" not in response.cookies
    (token,) = re.findall(r"ticket=([A-Za-z0-9_-]+)", link)
    assert not Ticket.objects.filter(digest=token).exists()
    assert Ticket.objects.get().user == ann
    # The changelist afterwards does not show it again.
    assert token not in admin_client.get(CHANGELIST).content.decode()


def test_the_password_reset_mail_greets_a_name_on_one_line_unescaped(admin_client, connection, new_user, mailoutbox):
    ann = User.objects.get(user_id=new_user(name="Ann & Bob's\r\n\r\nCall us now")["user_id"])
    act(admin_client, "send_password_reset", [ann], follow=True)
    (mail,) = mailoutbox
    assert mail.body.splitlines()[0] == "Hello Ann & Bob's Call us now,"

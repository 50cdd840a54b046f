"""Applying a tenant (``tenants.reader``) to the directory: connections, clients and users, idempotently.

What is read, in the Deploy CLI's shapes (each resource as the Management API writes it):

- ``clients``: ``name``; ``client_id`` and ``client_secret`` when given (fixed, for CI; the secret is stored as its
  bcrypt hash); ``app_type`` and ``grant_types`` decide whether the client may use client credentials at all. A
  client is matched by ``client_id`` when the file gives one, else by name.
- ``databases`` (strategy ``auth0``) and ``connections`` (``sms`` and ``email``; Auth0's other strategies are
  skipped): ``name``, ``strategy``, the ``options`` of ``connections.options`` and ``enabled_clients`` by client
  name, as the Deploy CLI writes them (a client id is accepted too), ``display_name`` and ``metadata``. Matched by
  name. ``display_name`` and ``metadata`` are checked as the API checks them; an update that leaves one out leaves
  it as it is, and one given replaces it (``metadata`` whole): the Deploy CLI sends a connection of the file as the
  body of ``PATCH /api/v2/connections/{id}`` without ``name`` and ``strategy`` (its ``stripUpdateFields``), and
  ``metadata`` is none of its ``objectFields`` (which it would diff key by key), so a key left out is not sent.
- ``clientGrants``: ``client_id`` (a client's name, as the Deploy CLI writes it, or its id), ``audience`` and
  ``scope``. A grant on the Management API (this service's audience, or any ``https://<domain>/api/v2/``, Auth0's
  identifier for it) sets the client's granted scopes; grants on other APIs are skipped. A client's scopes are the
  union of its grants: a client of the file without a grant has none.
- ``users`` (ours): ``[{"connection": NAME, "users": [...]}]`` or ``[{"connection": NAME, "file": PATH}]``, users in
  Auth0's bulk-import format, imported with upsert through ``users.imports`` (the file relative to the tenant's).

Sections, keys and options this service does not model are reported once as skipped, and so is a connection being
deleted (``Connection.deletion_requested_at``: its name is taken until its users are deleted), with its users. Names
Auth0 does not know (a scope, a strategy) are errors, as are unresolved keywords (a whole value ``##KEY##`` or
``@@KEY@@``: the Deploy CLI's ``validateNoUnresolvedPlaceholders``), wrong types and anything a service refuses.
Everything happens in one transaction: an error leaves the directory as it was. Every write goes through the
services the API and the admin use. Raises ``TenantFileError``.
"""

from __future__ import annotations

import io
import json
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils.translation import gettext as _

from clients.models import Client
from clients.scopes import KNOWN_SCOPES
from clients.services import CLIENT_ID_PATTERN, create_client, rotate_client_secret, update_client
from connections.auth0_strategies import IDENTITY_PROVIDERS
from connections.models import Connection, Strategy
from connections.options import modelled_options, validate_connection, validate_display_name_and_metadata
from connections.selectors import is_being_deleted
from connections.services import create_connection, update_connection
from core.actors import Actor
from core.errors import DomainError
from core.hashing import bcrypt_verify
from tenants.auth0_names import MANAGEMENT_SCOPES
from tenants.reader import Document, TenantFileError, is_inside, type_name
from users.imports import ImportFileError, RejectedUser, import_users
from users.imports.importer import ImportConnectionError

MODELLED_SECTIONS = ("clients", "databases", "connections", "clientGrants", "users")
_CLIENT_KEYS = frozenset({"name", "client_id", "client_secret", "app_type", "grant_types"})
_CONNECTION_KEYS = frozenset({"name", "strategy", "options", "enabled_clients", "display_name", "metadata"})
_CONNECTION_DETAILS = ("display_name", "metadata")  # as the Management API takes them
_GRANT_KEYS = frozenset({"client_id", "audience", "scope"})
# Auth0's public applications: they cannot keep a secret, so Auth0 never lets them use client credentials.
_PUBLIC_APP_TYPES = frozenset({"spa", "native"})
# The Deploy CLI's unresolved-keyword test: a whole value that is still a marker (upper case only, so Auth0's own
# lower-case template variables such as ``@@password@@`` are not mistaken for one).
_UNRESOLVED = re.compile(r"(##[A-Z0-9_]+##|@@[A-Z0-9_]+@@)")
_MAX_REPORTED_REJECTS = 5
# Auth0's Management API identifier, ``https://{domain}/api/v2/``; an export often keeps the domain as a keyword
# (``https://##AUTH0_DOMAIN##/api/v2/``), which a URL parser would read as a fragment, so the text is matched.
_AUTH0_MANAGEMENT_AUDIENCE = re.compile(r"https?://[^/\s]+/api/v2/")


@dataclass
class TenantSummary:
    """What a load did, per kind (``clients``, ``connections``, ``users``): created, updated, unchanged."""

    counts: dict[str, Counter[str]] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def count(self, kind: str, outcome: str, n: int = 1) -> None:
        self.counts.setdefault(kind, Counter())[outcome] += n

    def lines(self) -> list[str]:
        """The report, one line each: the counts, then what was skipped, then notes. Never a secret."""
        out = []
        for kind in ("connections", "clients", "users"):
            c = self.counts.get(kind, Counter())
            out.append(
                _("%(kind)s: %(created)d created, %(updated)d updated, %(unchanged)d unchanged")
                % {"kind": kind, "created": c["created"], "updated": c["updated"], "unchanged": c["unchanged"]}
            )
        out += [_("skipped: %(what)s") % {"what": line} for line in self.skipped]
        out += [_("note: %(what)s") % {"what": line} for line in self.notes]
        return out


@dataclass
class _ClientPlan:
    where: str
    name: str
    client_id: str | None
    secret: str | None
    may_use_client_credentials: bool
    existing: Client | None
    scopes: set[str] = field(default_factory=set)


@dataclass
class _ConnectionPlan:
    where: str
    name: str
    strategy: str
    options: dict[str, Any]
    enabled_clients: list[tuple[str, _ClientPlan | Client]] | None
    existing: Connection | None
    details: dict[str, Any] = field(default_factory=dict)  # display_name and metadata, those the file gives


@dataclass
class _UsersPlan:
    where: str
    connection: str
    users: list[Any] | None
    file: Path | None


def load_tenant(document: Document, *, actor: Actor, dry_run: bool = False) -> TenantSummary:
    """Make the directory hold what ``document`` declares; see the module docstring for what is read.

    With ``dry_run`` everything is done, checked and counted, then rolled back. Raises ``TenantFileError`` naming
    the place in the file; nothing is changed then.
    """
    loader = _Loader(document, actor)
    with transaction.atomic():
        # Read and written in one transaction: a row another process creates meanwhile meets the unique
        # constraints (an error, nothing changed; a second run then finds it), never a duplicate.
        loader.plan()
        loader.apply()
        if dry_run:
            transaction.set_rollback(True)
    return loader.summary


class _Loader:
    def __init__(self, document: Document, actor: Actor) -> None:
        self.document = document
        self.actor = actor
        self.summary = TenantSummary()
        self.clients: list[_ClientPlan] = []
        self.connections: list[_ConnectionPlan] = []
        self.users: list[_UsersPlan] = []
        self.deleting: set[str] = set()  # the file's connections being deleted: skipped, their users too
        self.skipped_keys: dict[str, set[str]] = {}
        self.skipped_scopes: set[str] = set()

    # --- reading and checking, before anything is written -------------------------------------------------

    def plan(self) -> None:
        sections = self.document.sections
        others = sorted(name for name in sections if name not in MODELLED_SECTIONS)
        if others:
            self.summary.skipped.append(_("sections not modelled: %(names)s") % {"names": ", ".join(others)})
        for name in MODELLED_SECTIONS:
            self._check_unresolved(sections.get(name), name)
        self._plan_clients(self._items("clients"))
        for section, default in (("databases", Strategy.AUTH0), ("connections", None)):
            self._plan_connections(section, self._items(section), default)
        self._plan_grants(self._items("clientGrants"))
        self._plan_users(self._items("users"))
        for section, keys in self.skipped_keys.items():
            self.summary.skipped.append(
                _("%(section)s: keys not modelled: %(keys)s") % {"section": section, "keys": ", ".join(sorted(keys))}
            )
        if self.skipped_scopes:
            self.summary.skipped.append(
                _("clientGrants: Management API scopes not modelled: %(scopes)s")
                % {"scopes": " ".join(sorted(self.skipped_scopes))}
            )

    def _where(self, section: str, index: int) -> str:
        """``clients[0]`` in a file; in the directory format, the item's own file (``clients/ops.json:``)."""
        origins = self.document.origins.get(section)
        return f"{origins[index]}:" if origins else f"{section}[{index}]"

    def _items(self, section: str) -> list[tuple[str, dict[str, Any]]]:
        value = self.document.sections.get(section)
        if value is None:
            return []
        if not isinstance(value, list):
            raise TenantFileError(section, _("an array expected, not %(type)s.") % {"type": type_name(value)})
        items = []
        for index, item in enumerate(value):
            where = self._where(section, index)
            if not isinstance(item, dict):
                raise TenantFileError(where, _("an object expected, not %(type)s.") % {"type": type_name(item)})
            items.append((where, item))
        return items

    def _check_unresolved(self, value: Any, path: str) -> None:
        if isinstance(value, str) and _UNRESOLVED.fullmatch(value):
            raise TenantFileError(
                path,
                _("the keyword %(keyword)s has no value (set it in the environment or the keyword mappings).")
                % {"keyword": value},
            )
        if isinstance(value, dict):
            for key, item in value.items():
                self._check_unresolved(item, f"{path}.{key}")
        elif isinstance(value, list):
            for index, item in enumerate(value):
                self._check_unresolved(item, f"{path}[{index}]")

    def _skip_keys(self, section: str, item: dict[str, Any], modelled: frozenset[str]) -> None:
        extra = set(item) - modelled
        if extra:
            self.skipped_keys.setdefault(section, set()).update(extra)

    def _plan_clients(self, items: list[tuple[str, dict[str, Any]]]) -> None:
        names: dict[str, str] = {}
        ids: dict[str, str] = {}
        for where, item in items:
            self._skip_keys("clients", item, _CLIENT_KEYS)
            name = _required(item, "name", where)
            client_id = _string(item, "client_id", where)
            secret = _string(item, "client_secret", where)
            app_type = _string(item, "app_type", where)
            grant_types = _strings(item, "grant_types", where)
            for key, seen in ((name, names), (client_id, ids)):
                if key is not None and key in seen:
                    raise TenantFileError(
                        where, _("%(value)s is also at %(other)s.") % {"value": key, "other": seen[key]}
                    )
                if key is not None:
                    seen[key] = where
            existing = self._existing_client(where, name, client_id)
            if existing is not None:
                client_id = existing.pk
            may_use = app_type not in _PUBLIC_APP_TYPES and (grant_types is None or "client_credentials" in grant_types)
            self.clients.append(_ClientPlan(where, name, client_id, secret, may_use, existing))

    def _existing_client(self, where: str, name: str, client_id: str | None) -> Client | None:
        if client_id is not None:
            return Client.objects.filter(pk=client_id).first()
        found = list(Client.objects.filter(name=name)[:2])
        if len(found) > 1:
            raise TenantFileError(
                where, _("several clients are named %(name)s: give this one its client_id.") % {"name": name}
            )
        return found[0] if found else None

    def _client(self, reference: str, where: str) -> _ClientPlan | Client:
        """A client by name (the Deploy CLI's way) or id: one of the file's first, then one of the directory's."""
        for plan in self.clients:
            if reference in (plan.name, plan.client_id):
                return plan
        found = list(Client.objects.filter(name=reference)[:2]) or list(Client.objects.filter(pk=reference))
        if len(found) == 1:
            return found[0]
        if found:
            raise TenantFileError(where, _("several clients are named %(name)s.") % {"name": reference})
        raise TenantFileError(
            where, _("no client is named %(name)s, in the file or the directory.") % {"name": reference}
        )

    def _enabled_client(self, reference: str, where: str) -> _ClientPlan | Client | None:
        """A client an export enables; ``None`` for the id of a client the export left out.

        The Deploy CLI writes enabled clients by name, and a client it did not export (its own, or one in
        ``AUTH0_EXCLUDED_CLIENTS``) by its id (``mapClientID2NameSorted`` keeps what it cannot map): such an id is
        skipped, so the export still loads. A name that matches nothing stays an error (a typo).
        """
        try:
            return self._client(reference, where)
        except TenantFileError:
            if not CLIENT_ID_PATTERN.fullmatch(reference):
                raise
        self.summary.skipped.append(
            _("%(where)s: client %(id)s is not in the file or the directory") % {"where": where, "id": reference}
        )
        return None

    def _plan_connections(self, section: str, items: list[tuple[str, dict[str, Any]]], default: str | None) -> None:
        taken = {plan.name: plan.where for plan in self.connections}
        for where, item in items:
            self._skip_keys(section, item, _CONNECTION_KEYS)
            name = _required(item, "name", where)
            strategy = _string(item, "strategy", where, required=default is None) or default
            assert strategy is not None  # required above when there is no default
            if strategy not in Strategy.values:
                if strategy not in IDENTITY_PROVIDERS:
                    raise TenantFileError(
                        _in(where, "strategy"), _("%(strategy)s is not a strategy of Auth0.") % {"strategy": strategy}
                    )
                self.summary.skipped.append(
                    _("%(where)s %(name)s: strategy %(strategy)s not modelled")
                    % {"where": where.rstrip(":"), "name": name, "strategy": strategy}
                )
                continue
            if default is not None and strategy != default:
                raise TenantFileError(
                    _in(where, "strategy"),
                    _("the connections of %(section)s are %(strategy)s ones.")
                    % {"section": section, "strategy": default},
                )
            if is_being_deleted(name=name):
                # Its name is taken until its users are deleted (by the worker, which ``scripts/serve.sh`` starts
                # after loading TENANT_FILE: a conflict here kept both from starting). Made by a load after that.
                self.summary.skipped.append(
                    _("%(where)s %(name)s: being deleted, not made again (nor its users) until its deletion finished")
                    % {"where": where.rstrip(":"), "name": name}
                )
                self.deleting.add(name)
                continue
            if name in taken:
                raise TenantFileError(
                    where, _("%(value)s is also at %(other)s.") % {"value": name, "other": taken[name]}
                )
            taken[name] = where
            options = item.get("options") or {}
            if not isinstance(options, dict):
                raise TenantFileError(
                    _in(where, "options"), _("an object expected, not %(type)s.") % {"type": type_name(options)}
                )
            modelled = modelled_options(strategy)
            extra = set(options) - modelled
            if extra:
                self.skipped_keys.setdefault(f"{section}.options", set()).update(extra)
            kept = {key: value for key, value in options.items() if key in modelled}
            details = {key: item[key] for key in _CONNECTION_DETAILS if key in item}
            try:
                stored = validate_connection(name=name, strategy=strategy, options=kept)
                validate_display_name_and_metadata(details)  # a null too: the API refuses it
            except DomainError as exc:
                raise _field_error(where, exc) from exc
            enabled = _strings(item, "enabled_clients", where)
            clients = None
            if enabled is not None:
                clients = []
                for i, ref in enumerate(enabled):
                    target = self._enabled_client(ref, _in(where, f"enabled_clients[{i}]"))
                    if target is not None:
                        clients.append((ref, target))
            existing = Connection.objects.filter(name=name).first()
            if existing is not None and existing.strategy != strategy:
                raise TenantFileError(
                    _in(where, "strategy"),
                    _("the connection %(name)s exists with strategy %(strategy)s, which cannot change.")
                    % {"name": name, "strategy": existing.strategy},
                )
            self.connections.append(_ConnectionPlan(where, name, strategy, stored, clients, existing, details))

    def _plan_grants(self, items: list[tuple[str, dict[str, Any]]]) -> None:
        for where, item in items:
            self._skip_keys("clientGrants", item, _GRANT_KEYS)
            reference = _required(item, "client_id", where)
            audience = _required(item, "audience", where)
            scopes = _strings(item, "scope", where) or []
            client = self._client(reference, _in(where, "client_id"))
            if not _is_management_api(audience):
                self.summary.skipped.append(
                    _("%(where)s: audience %(audience)s is not this service's Management API")
                    % {"where": where.rstrip(":"), "audience": audience}
                )
                continue
            granted = set()
            for index, scope in enumerate(scopes):
                if scope in KNOWN_SCOPES:
                    granted.add(scope)
                elif scope in MANAGEMENT_SCOPES:
                    self.skipped_scopes.add(scope)
                else:
                    raise TenantFileError(
                        _in(where, f"scope[{index}]"), _("%(scope)s is not a Management API scope.") % {"scope": scope}
                    )
            if isinstance(client, _ClientPlan) and not client.may_use_client_credentials:
                self.summary.skipped.append(
                    _("%(where)s: %(name)s may not use client credentials (its app_type or grant_types)")
                    % {"where": where.rstrip(":"), "name": client.name}
                )
                continue
            if isinstance(client, Client):  # a client of the directory, not of the file: planned from now on
                plan = _ClientPlan(where, client.name, client.pk, None, True, client)
                self.clients.append(plan)
                client = plan
            client.scopes |= granted

    def _plan_users(self, items: list[tuple[str, dict[str, Any]]]) -> None:
        for where, item in items:
            self._skip_keys("users", item, frozenset({"connection", "users", "file"}))
            connection = _required(item, "connection", where)
            if connection in self.deleting:  # said once, with the connection
                continue
            if is_being_deleted(name=connection):
                self.summary.skipped.append(
                    _("%(where)s: the connection %(name)s is being deleted: its users are not imported")
                    % {"where": where.rstrip(":"), "name": connection}
                )
                self.deleting.add(connection)
                continue
            file = _string(item, "file", where)
            users = item.get("users")
            if (file is None) == (users is None):
                raise TenantFileError(where, _("give either users (a list) or file (a path), not both or neither."))
            if users is not None and not isinstance(users, list):
                raise TenantFileError(
                    _in(where, "users"), _("an array expected, not %(type)s.") % {"type": type_name(users)}
                )
            path = None if file is None else self.document.base_dir / file
            if path is not None and not is_inside(path, self.document.base_dir):
                raise TenantFileError(
                    _in(where, "file"), _("%(path)s is outside the tenant's directory.") % {"path": file}
                )
            if path is not None and not path.is_file():
                raise TenantFileError(_in(where, "file"), _("no such file: %(path)s.") % {"path": file})
            known = (
                connection in {plan.name for plan in self.connections}
                or Connection.objects.filter(name=connection).exists()
            )
            if not known:
                raise TenantFileError(
                    _in(where, "connection"), _("no connection is named %(name)s.") % {"name": connection}
                )
            self.users.append(_UsersPlan(where, connection, users, path))

    # --- writing, in one transaction ----------------------------------------------------------------------

    def apply(self) -> None:
        for plan in self.clients:
            self._apply_client(plan)
        # The existing connections locked first, in id order (FOR NO KEY UPDATE, as update_connection locks each):
        # a client's change enabling several locks them in that order, and in the file's order the two deadlocked.
        existing = [plan.existing.pk for plan in self.connections if plan.existing is not None]
        list(Connection.objects.filter(pk__in=existing).select_for_update(no_key=True).order_by("pk"))
        for connection in self.connections:
            self._apply_connection(connection)
        for users in self.users:
            self._apply_users(users)

    def _apply_client(self, plan: _ClientPlan) -> None:
        scopes = [scope for scope in KNOWN_SCOPES if scope in plan.scopes]
        try:
            if plan.existing is None:
                client, _secret = create_client(
                    name=plan.name, scopes=scopes, client_id=plan.client_id, client_secret=plan.secret, actor=self.actor
                )
                plan.existing, plan.client_id = client, client.client_id
                self.summary.count("clients", "created")
                if plan.secret is None:
                    self.summary.notes.append(
                        _("%(where)s %(name)s: no client_secret in the file; rotate_client_secret %(id)s gives one")
                        % {"where": plan.where.rstrip(":"), "name": plan.name, "id": client.client_id}
                    )
                return
            client = plan.existing
            changed = False
            if client.name != plan.name or set(client.scopes) != plan.scopes:
                update_client(client_id=client.pk, name=plan.name, scopes=scopes, actor=self.actor)
                changed = True
            if plan.secret is not None and not bcrypt_verify(plan.secret, client.secret_hash):
                rotate_client_secret(client_id=client.pk, secret=plan.secret, actor=self.actor)
                changed = True
            self.summary.count("clients", "updated" if changed else "unchanged")
        except DomainError as exc:
            raise _field_error(plan.where, exc) from exc

    def _apply_connection(self, plan: _ConnectionPlan) -> None:
        ids = None
        if plan.enabled_clients is not None:
            ids = sorted({_client_id(target) for _ref, target in plan.enabled_clients})
        try:
            if plan.existing is None:
                create_connection(
                    name=plan.name,
                    strategy=plan.strategy,
                    options=plan.options,
                    enabled_clients=ids or (),
                    actor=self.actor,
                    **plan.details,
                )
                self.summary.count("connections", "created")
                return
            current = sorted(plan.existing.clients.values_list("pk", flat=True))
            options = plan.options if plan.options != plan.existing.options else None
            clients = ids if ids is not None and ids != current else None
            # Left out of the file: left as they are (see the module docstring).
            details = {key: value for key, value in plan.details.items() if getattr(plan.existing, key) != value}
            if options is None and clients is None and not details:
                self.summary.count("connections", "unchanged")
                return
            update_connection(
                connection_id=plan.existing.pk, options=options, enabled_clients=clients, actor=self.actor, **details
            )
            self.summary.count("connections", "updated")
        except DomainError as exc:
            raise _field_error(plan.where, exc) from exc

    def _apply_users(self, plan: _UsersPlan) -> None:
        connection = Connection.objects.filter(name=plan.connection).first()
        if connection is None:  # deleted, or its deletion begun, since the plan read it
            raise TenantFileError(
                _in(plan.where, "connection"), _("no connection is named %(name)s.") % {"name": plan.connection}
            )
        rejected: list[RejectedUser] = []
        try:
            if plan.file is not None:
                with plan.file.open("rb") as source:
                    summary = self._import(source, connection, rejected)
            else:
                summary = self._import(io.BytesIO(json.dumps(plan.users).encode()), connection, rejected)
        except (ImportConnectionError, ImportFileError) as exc:
            raise TenantFileError(plan.where, exc.message) from exc
        except OSError as exc:
            raise TenantFileError(
                f"{plan.where}.file", _("cannot be read: %(reason)s.") % {"reason": exc.strerror}
            ) from exc
        if rejected:
            shown = "; ".join(
                _("user %(index)d: %(errors)s")
                % {"index": r.index, "errors": ", ".join(f"{e['code']} {e['message']}" for e in r.errors)}
                for r in rejected[:_MAX_REPORTED_REJECTS]
            )
            more = len(rejected) - _MAX_REPORTED_REJECTS
            raise TenantFileError(
                plan.where,
                _("%(count)d users refused: %(shown)s%(more)s")
                % {
                    "count": len(rejected),
                    "shown": shown,
                    "more": _(" (and %(n)d more)") % {"n": more} if more > 0 else "",
                },
            )
        self.summary.count("users", "created", summary.inserted)
        self.summary.count("users", "updated", summary.updated)
        self.summary.count("users", "unchanged", summary.skipped)

    def _import(self, source: Any, connection: Connection, rejected: list[RejectedUser]) -> Any:
        # In this thread and this transaction (not pipelined), so a later error rolls the users back too.
        return import_users(
            source, connection=connection, actor=self.actor, upsert=True, on_reject=rejected.append, pipelined=False
        )


def _in(where: str, path: str) -> str:
    """The place of ``path`` inside the item at ``where``: ``clients[0].name``, or ``clients/ops.json: name``."""
    return f"{where} {path}" if where.endswith(":") else f"{where}.{path}"


def _client_id(target: _ClientPlan | Client) -> str:
    if isinstance(target, Client):
        return target.pk
    assert target.client_id is not None  # set when the client was applied, before connections
    return target.client_id


def _is_management_api(audience: str) -> bool:
    """This service's audience, or Auth0's identifier of its Management API (``https://{domain}/api/v2/``), so an
    export's grants apply unchanged."""
    return audience == settings.MANAGEMENT_API_AUDIENCE or _AUTH0_MANAGEMENT_AUDIENCE.fullmatch(audience) is not None


def _required(item: dict[str, Any], key: str, where: str) -> str:
    value = _string(item, key, where, required=True)
    assert value is not None  # required
    return value


def _string(item: dict[str, Any], key: str, where: str, *, required: bool = False) -> str | None:
    value = item.get(key)
    if value is None:
        if required:
            raise TenantFileError(_in(where, f"{key}"), _("missing."))
        return None
    if not isinstance(value, str) or not value:
        raise TenantFileError(
            _in(where, f"{key}"), _("a non-empty string expected, not %(type)s.") % {"type": type_name(value)}
        )
    return value


def _strings(item: dict[str, Any], key: str, where: str) -> list[str] | None:
    value = item.get(key)
    if value is None:
        return None
    if not isinstance(value, list):
        raise TenantFileError(_in(where, f"{key}"), _("an array expected, not %(type)s.") % {"type": type_name(value)})
    for index, entry in enumerate(value):
        if not isinstance(entry, str):
            raise TenantFileError(
                _in(where, f"{key}[{index}]"), _("a string expected, not %(type)s.") % {"type": type_name(entry)}
            )
    return value


def _field_error(where: str, exc: DomainError) -> TenantFileError:
    """A service's refusal, at the place in the file: the first field it names, and its message."""
    first = exc.errors[0] if exc.errors else None
    if first is not None and first.field:
        return TenantFileError(_in(where, f"{first.field}"), first.message)
    return TenantFileError(where, exc.message)

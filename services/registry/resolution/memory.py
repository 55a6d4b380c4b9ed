"""In-memory ResolutionStore (services.registry.resolution.store): the same joins as the SQL
store, over the other features' tables (users, memberships, roles, role_permissions,
permissions, user_roles, groups, group_members, group_apps, group_roles, client_roles,
resource_servers, apps)."""

from __future__ import annotations

import copy
from collections.abc import Iterable, Sequence
from typing import Any

from services.common.vocabulary import CORE_SERVICE, PlanStatus
from services.registry.kernel.memory import MemoryStore, Row
from services.registry.resolution.models import (
    AppFacts,
    ClientFacts,
    RoleFacts,
    SnapshotSecret,
    UserRecord,
)

_DOMAIN_COLUMNS = ("allowed_domain_1", "allowed_domain_2", "allowed_domain_3")


class MemoryResolutionStore(MemoryStore):
    async def user(self, tenant_id: str, user_id: str) -> UserRecord | None:
        row = self._table("users").get(user_id)
        if row is None or row["tenant_id"] != tenant_id:
            return None
        return UserRecord(
            id=str(row["id"]),
            email=str(row["email"]),
            first_name=row["first_name"],
            last_name=row["last_name"],
            status=str(row["status"]),
            token_version=int(row["token_version"]),
        )

    async def membership_status(self, user_id: str, app_id: str) -> str | None:
        row = self._table("memberships").get((user_id, app_id))
        return None if row is None else str(row["status"])

    async def client_facts(self, tenant_id: str, client_id: str) -> ClientFacts | None:
        client = next(
            (
                c
                for c in self._table("clients").values()
                if c["client_id"] == client_id and c["tenant_id"] == tenant_id
            ),
            None,
        )
        if client is None:
            return None
        pk = str(client["id"])
        secrets = sorted(
            (s for s in self._table("client_secrets").values() if s["client_pk"] == pk),
            key=lambda s: s["id"],
        )
        secrets.sort(key=lambda s: s["created_at"], reverse=True)
        apps = self._table("apps")
        served = sorted(
            (apps[link["app_id"]] for link in self._links("client_apps", pk, "app_id", apps)),
            key=lambda a: a["slug"],
        )
        servers = sorted(self._table("resource_servers").values(), key=lambda r: r["audience"])
        roles = self._table("roles")
        held = sorted(
            (roles[link["role_id"]] for link in self._links("client_roles", pk, "role_id", roles)),
            key=lambda r: r["code"],
        )
        scopes = self._table("scopes")
        named = sorted(
            (
                scopes[link["scope_id"]]
                for link in self._links("client_scopes", pk, "scope_id", scopes)
            ),
            key=lambda s: s["name"],
        )
        return ClientFacts(
            client_pk=pk,
            client_id=str(client["client_id"]),
            enabled=bool(client["enabled"]),
            confidential=bool(client["confidential"]),
            grant_types=tuple(client["grant_types"]),
            secrets=tuple(
                SnapshotSecret(
                    id=str(s["id"]),
                    hash=str(s["secret_hash"]),
                    created_at=s["created_at"],
                    expires_at=s["expires_at"],
                    last_used_at=s["last_used_at"],
                )
                for s in secrets
            ),
            apps=tuple(
                self._app_facts(app, [r["audience"] for r in servers if r["app_id"] == app["id"]])
                for app in served
            ),
            roles=tuple(
                RoleFacts(
                    code=str(role["code"]),
                    app_id=role["app_id"],
                    permissions=tuple(sorted(self._permissions_of(str(role["id"])))),
                )
                for role in held
            ),
            scopes=tuple((str(s["name"]), s["app_id"]) for s in named),
        )

    def _links(self, table: str, client_pk: str, column: str, targets: dict[Any, Row]) -> list[Row]:
        return [
            link
            for link in self._table(table).values()
            if link["client_pk"] == client_pk and link[column] in targets
        ]

    def _app_facts(self, app: Row, audiences: list[str]) -> AppFacts:
        region = self._table("regions").get(app["region_id"]) if app["region_id"] else None
        plan = self._table("plans").get(app["plan_id"]) if app["plan_id"] else None
        return AppFacts(
            id=str(app["id"]),
            slug=str(app["slug"]),
            enabled=bool(app["enabled"]),
            region=str(region["code"]) if region else "",
            db_code=str(app["db_code"] or ""),
            plan_code=(str(plan["code"]) if plan else None) if app["plan_id"] else None,
            plan_retired=bool(app["plan_id"])
            and (plan is None or plan["status"] == PlanStatus.RETIRED.value),
            entitlements=dict(plan["limits"]) if plan else {},
            service_codes=tuple(app["service_codes"]),
            settings=copy.deepcopy(dict(app["settings"])),
            audiences=tuple(audiences),
        )

    def _permissions_of(self, role_id: str) -> list[tuple[str, str]]:
        permissions = self._table("permissions")
        return [
            (
                str(permissions[g["permission_id"]]["service_code"]),
                str(permissions[g["permission_id"]]["code"]),
            )
            for g in self._table("role_permissions").values()
            if g["role_id"] == role_id and g["permission_id"] in permissions
        ]

    async def user_roles_and_permissions(
        self, tenant_id: str, user_id: str, app_id: str, service_codes: Sequence[str]
    ) -> tuple[list[str], list[str]]:
        groups = self._table("groups")
        bound_here = {
            str(link["group_id"])
            for link in self._table("group_apps").values()
            if link["app_id"] == app_id
        }
        group_ids = {
            str(member["group_id"])
            for member in self._table("group_members").values()
            if member["user_id"] == user_id
            and member["group_id"] in groups
            and (
                bool(groups[member["group_id"]]["bound_to_all_apps"])
                or member["group_id"] in bound_here
            )
        }
        role_ids = {
            str(link["role_id"])
            for link in self._table("user_roles").values()
            if link["user_id"] == user_id
        }
        role_ids.update(
            str(link["role_id"])
            for link in self._table("group_roles").values()
            if link["group_id"] in group_ids
        )
        roles = self._roles_of_app(role_ids, app_id, tenant_id=tenant_id)
        permissions = self._granted(roles.keys(), service_codes)
        permissions.update(
            str(row["code"])
            for row in self._table("permissions").values()
            if row["tenant_id"] == tenant_id and row["service_code"] == CORE_SERVICE
        )
        return sorted(roles.values()), sorted(permissions)

    async def app_audiences(self, app_id: str) -> list[str]:
        return sorted(
            str(row["audience"])
            for row in self._table("resource_servers").values()
            if row["app_id"] == app_id
        )

    async def enabled_app_domains(self, tenant_id: str) -> set[str]:
        return {
            str(row[column])
            for row in self._table("apps").values()
            if row["tenant_id"] == tenant_id and bool(row["enabled"])
            for column in _DOMAIN_COLUMNS
            if row[column]
        }

    def _roles_of_app(
        self, role_ids: Iterable[str], app_id: str, *, tenant_id: str | None
    ) -> dict[str, str]:
        """Code by id of the existing roles among ``role_ids`` that are tenant-wide or bound to
        ``app_id`` (and belong to ``tenant_id`` when given)."""
        roles = self._table("roles")
        found: dict[str, str] = {}
        for role_id in role_ids:
            row = roles.get(role_id)
            if row is None or (tenant_id is not None and row["tenant_id"] != tenant_id):
                continue
            if row["app_id"] is None or row["app_id"] == app_id:
                found[role_id] = str(row["code"])
        return found

    def _granted(self, role_ids: Iterable[str], service_codes: Sequence[str]) -> set[str]:
        """Codes of the permissions the roles carry within ``service_codes``."""
        wanted = set(role_ids)
        services = set(service_codes)
        permissions = self._table("permissions")
        codes: set[str] = set()
        for link in self._table("role_permissions").values():
            if link["role_id"] not in wanted:
                continue
            row = permissions.get(link["permission_id"])
            if row is not None and row["service_code"] in services:
                codes.add(str(row["code"]))
        return codes

"""SQL ClientStore (services.registry.clients.store)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, insert, or_, select, update

from services.registry import schema as t
from services.registry.clients.models import Client, ClientCredentials, ClientSecretRecord
from services.registry.kernel.models import NamedRef, PageOf, PageRequest
from services.registry.kernel.paging import offset_page
from services.registry.kernel.sql import SqlStore, utc, utc_or_none


def _secret_record(row: Any, *, id_column: str = "id") -> ClientSecretRecord:
    return ClientSecretRecord(
        id=row[id_column],
        secret_hash=row["secret_hash"],
        created_at=utc(row["created_at"]),
        expires_at=utc_or_none(row["expires_at"]),
        last_used_at=utc_or_none(row["last_used_at"]),
    )


class SqlClientStore(SqlStore):
    async def insert(self, client: Client, at: datetime) -> None:
        await self.execute(
            insert(t.clients).values(
                id=client.id,
                tenant_id=client.tenant_id,
                client_id=client.client_id,
                display_name=client.display_name,
                confidential=client.confidential,
                enabled=client.enabled,
                grant_types=list(client.grant_types),
                description=client.description,
                version=client.version,
                created_at=at,
                updated_at=at,
            )
        )

    async def get(self, client_id: str) -> Client | None:
        row = (
            await self._c.execute(select(t.clients).where(t.clients.c.client_id == client_id))
        ).first()
        if row is None:
            return None
        m = row._mapping
        app_ids = (
            (
                await self._c.execute(
                    select(t.client_apps.c.app_id).where(t.client_apps.c.client_pk == m["id"])
                )
            )
            .scalars()
            .all()
        )
        return Client(
            id=m["id"],
            tenant_id=m["tenant_id"],
            client_id=m["client_id"],
            display_name=m["display_name"],
            confidential=m["confidential"],
            enabled=m["enabled"],
            grant_types=tuple(m["grant_types"]),
            app_ids=tuple(app_ids),
            version=m["version"],
            description=m["description"],
        )

    async def credentials(self, client_id: str) -> ClientCredentials | None:
        rows = (
            await self._c.execute(
                select(
                    t.clients.c.id,
                    t.clients.c.enabled,
                    t.clients.c.confidential,
                    t.tenants.c.slug,
                    t.client_secrets.c.id.label("secret_id"),
                    t.client_secrets.c.secret_hash,
                    t.client_secrets.c.created_at,
                    t.client_secrets.c.expires_at,
                    t.client_secrets.c.last_used_at,
                )
                .join(t.tenants, t.tenants.c.id == t.clients.c.tenant_id)
                .outerjoin(t.client_secrets, t.client_secrets.c.client_pk == t.clients.c.id)
                .where(t.clients.c.client_id == client_id)
                .order_by(t.client_secrets.c.created_at.desc())
            )
        ).all()
        if not rows:
            return None
        first = rows[0]._mapping
        return ClientCredentials(
            client_pk=first["id"],
            tenant_slug=first["slug"],
            enabled=first["enabled"],
            confidential=first["confidential"],
            secrets=tuple(
                _secret_record(m, id_column="secret_id")
                for m in (r._mapping for r in rows)
                if m["secret_id"] is not None
            ),
        )

    async def secrets(self, client_pk: str) -> list[ClientSecretRecord]:
        rows = (
            await self._c.execute(
                select(t.client_secrets)
                .where(t.client_secrets.c.client_pk == client_pk)
                .order_by(t.client_secrets.c.created_at.desc())
            )
        ).all()
        return [_secret_record(r._mapping) for r in rows]

    async def insert_secret(self, client_pk: str, record: ClientSecretRecord) -> None:
        await self.execute(
            insert(t.client_secrets).values(
                id=record.id,
                client_pk=client_pk,
                secret_hash=record.secret_hash,
                created_at=record.created_at,
                expires_at=record.expires_at,
                last_used_at=None,
            )
        )

    async def retire_secrets(
        self, client_pk: str, keep: str | None, keep_until: datetime | None
    ) -> None:
        others = [t.client_secrets.c.client_pk == client_pk]
        if keep is not None:
            others.append(t.client_secrets.c.id != keep)
        await self._c.execute(delete(t.client_secrets).where(and_(*others)))
        if keep is not None and keep_until is not None:
            await self.execute(
                update(t.client_secrets)
                .where(
                    and_(
                        t.client_secrets.c.id == keep,
                        or_(
                            t.client_secrets.c.expires_at.is_(None),
                            t.client_secrets.c.expires_at > keep_until,
                        ),
                    )
                )
                .values(expires_at=keep_until)
            )

    async def mark_secret_used(self, secret_id: str, at: datetime) -> None:
        await self.execute(
            update(t.client_secrets)
            .where(t.client_secrets.c.id == secret_id)
            .values(last_used_at=at)
        )

    async def replace_secret_hash(self, secret_id: str, secret_hash: str) -> None:
        await self.execute(
            update(t.client_secrets)
            .where(t.client_secrets.c.id == secret_id)
            .values(secret_hash=secret_hash)
        )

    async def delete(self, client_pk: str) -> None:
        for link in (t.client_secrets, t.client_apps, t.client_roles, t.client_scopes):
            await self._c.execute(delete(link).where(link.c.client_pk == client_pk))
        await self._c.execute(delete(t.clients).where(t.clients.c.id == client_pk))

    async def search(self, tenant_id: str, page: PageRequest, app_id: str | None) -> PageOf[Client]:
        statement = select(t.clients.c.client_id).where(t.clients.c.tenant_id == tenant_id)
        if app_id is not None:
            statement = statement.join(
                t.client_apps, t.client_apps.c.client_pk == t.clients.c.id
            ).where(t.client_apps.c.app_id == app_id)
        rows, total = await self.page(statement, page, [t.clients.c.client_id])
        clients = [c for c in [await self.get(r[0]) for r in rows] if c is not None]
        return offset_page(clients, total, page)

    async def update(self, client: Client, expected_version: int, at: datetime) -> bool:
        result = await self.execute(
            update(t.clients)
            .where(and_(t.clients.c.id == client.id, t.clients.c.version == expected_version))
            .values(
                display_name=client.display_name,
                description=client.description,
                enabled=client.enabled,
                grant_types=list(client.grant_types),
                version=client.version,
                updated_at=at,
            )
        )
        return bool(result.rowcount == 1)

    async def _replace_links(self, table: Any, client_pk: str, column: str, ids: list[str]) -> None:
        await self._c.execute(delete(table).where(table.c.client_pk == client_pk))
        if ids:
            await self.execute(
                insert(table),
                [{"client_pk": client_pk, column: value} for value in dict.fromkeys(ids)],
            )

    async def set_apps(self, client_pk: str, app_ids: list[str]) -> None:
        await self._replace_links(t.client_apps, client_pk, "app_id", app_ids)

    async def set_scopes(self, client_pk: str, scope_ids: list[str]) -> None:
        await self._replace_links(t.client_scopes, client_pk, "scope_id", scope_ids)

    async def set_roles(self, client_pk: str, role_ids: list[str]) -> None:
        await self._replace_links(t.client_roles, client_pk, "role_id", role_ids)

    async def scopes(self, client_pk: str) -> list[NamedRef]:
        rows = (
            await self._c.execute(
                select(t.scopes.c.id, t.scopes.c.name, t.scopes.c.app_id)
                .join(t.client_scopes, t.client_scopes.c.scope_id == t.scopes.c.id)
                .where(t.client_scopes.c.client_pk == client_pk)
                .order_by(t.scopes.c.name)
            )
        ).all()
        return [NamedRef(r[0], r[1], r[2]) for r in rows]

    async def roles(self, client_pk: str) -> list[NamedRef]:
        rows = (
            await self._c.execute(
                select(t.roles.c.id, t.roles.c.code, t.roles.c.app_id)
                .join(t.client_roles, t.client_roles.c.role_id == t.roles.c.id)
                .where(t.client_roles.c.client_pk == client_pk)
                .order_by(t.roles.c.code)
            )
        ).all()
        return [NamedRef(r[0], r[1], r[2]) for r in rows]

    async def add_role(self, client_pk: str, role_id: str) -> None:
        exists = (
            await self._c.execute(
                select(t.client_roles).where(
                    and_(
                        t.client_roles.c.client_pk == client_pk, t.client_roles.c.role_id == role_id
                    )
                )
            )
        ).first()
        if exists is None:
            await self.execute(insert(t.client_roles).values(client_pk=client_pk, role_id=role_id))

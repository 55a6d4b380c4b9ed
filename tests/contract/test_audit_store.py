"""AuditLog contract: events as inserted, newest first (ties by id), filtered by tenant,
action and target, the tenant's slug joined in ("" without a known tenant), paged."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

from services.registry.kernel.models import AuditEvent, PageRequest
from tests.contract import builders
from tests.contract.conftest import NOW, unique


def _event(tenant: Any | None, **overrides: Any) -> AuditEvent:
    value = AuditEvent(
        id=builders.new_id(),
        tenant_id=tenant.id if tenant else None,
        tenant_slug=tenant.slug if tenant else "",
        actor_type="client",
        actor_id="tc_admin",
        actor_tenant="acme",
        action="app.created",
        target_type="app",
        target_id=unique("target"),
        occurred_at=NOW,
        details={"fields": ["display_name"], "nested": {"n": 1, "ok": True}},
    )
    return replace(value, **overrides)


async def test_search_returns_events_as_inserted_with_the_tenant_slug(uow: Any) -> None:
    async with uow.transaction() as tx:
        owner = await builders.tenant(tx)
        event = _event(owner)
        await tx.audit.insert(event)
    async with uow.read() as tx:
        page = await tx.audit.search(owner.id, PageRequest(), "", "")
        assert page.items == [event]
        assert (page.total, page.next_offset) == (1, None)
        assert page.items[0].tenant_slug == owner.slug


async def test_events_without_a_known_tenant_have_an_empty_slug(uow: Any) -> None:
    target = unique("target")
    orphan_tenant = builders.new_id()
    async with uow.transaction() as tx:
        platform = _event(None, target_id=target, occurred_at=NOW)
        orphan = _event(None, target_id=target, occurred_at=NOW - timedelta(seconds=1))
        orphan = replace(orphan, tenant_id=orphan_tenant)
        await tx.audit.insert(platform)
        await tx.audit.insert(orphan)
        page = await tx.audit.search(None, PageRequest(), "", target)
        assert page.items == [platform, orphan]
        assert [e.tenant_slug for e in page.items] == ["", ""]
        assert [e.tenant_id for e in page.items] == [None, orphan_tenant]


async def test_search_lists_newest_first_and_ties_by_id(uow: Any) -> None:
    async with uow.transaction() as tx:
        owner = await builders.tenant(tx)
        oldest = _event(owner, occurred_at=NOW - timedelta(days=1))
        newest = _event(owner, occurred_at=NOW + timedelta(days=1))
        tie_b = _event(owner, id=f"{builders.new_id()[:-1]}b")
        tie_a = replace(tie_b, id=f"{tie_b.id[:-1]}a", target_id=unique("t"))
        for event in (tie_b, oldest, newest, tie_a):
            await tx.audit.insert(event)
        page = await tx.audit.search(owner.id, PageRequest(), "", "")
        assert page.items == [newest, tie_a, tie_b, oldest]


async def test_search_filters_on_tenant(uow: Any) -> None:
    async with uow.transaction() as tx:
        mine = await builders.tenant(tx)
        theirs = await builders.tenant(tx)
        target = unique("shared")
        own = _event(mine, target_id=target)
        other = _event(theirs, target_id=target, occurred_at=NOW - timedelta(seconds=1))
        await tx.audit.insert(own)
        await tx.audit.insert(other)
        assert (await tx.audit.search(mine.id, PageRequest(), "", "")).items == [own]
        assert (await tx.audit.search(theirs.id, PageRequest(), "", "")).items == [other]
        # No tenant: every tenant's events (and the platform's).
        everyone = await tx.audit.search(None, PageRequest(), "", target)
        assert everyone.items == [own, other]


async def test_search_filters_on_action_and_target_when_not_empty(uow: Any) -> None:
    async with uow.transaction() as tx:
        owner = await builders.tenant(tx)
        created = _event(owner, action="app.created", target_id="app-1")
        updated = _event(
            owner, action="app.updated", target_id="app-1", occurred_at=NOW + timedelta(seconds=1)
        )
        other = _event(
            owner, action="app.created", target_id="app-2", occurred_at=NOW - timedelta(seconds=1)
        )
        for event in (created, updated, other):
            await tx.audit.insert(event)
        search = tx.audit.search
        assert (await search(owner.id, PageRequest(), "", "")).items == [updated, created, other]
        assert (await search(owner.id, PageRequest(), "app.created", "")).items == [created, other]
        assert (await search(owner.id, PageRequest(), "", "app-1")).items == [updated, created]
        both = await search(owner.id, PageRequest(), "app.created", "app-1")
        assert both.items == [created]
        assert (await search(owner.id, PageRequest(), "app.deleted", "")).items == []
        # Exact matches only.
        assert (await search(owner.id, PageRequest(), "app", "")).items == []
        assert (await search(owner.id, PageRequest(), "", "app-")).items == []


async def test_search_pages_with_total_and_next_offset(uow: Any) -> None:
    async with uow.transaction() as tx:
        owner = await builders.tenant(tx)
        events = [_event(owner, occurred_at=NOW - timedelta(minutes=i)) for i in range(5)]
        for event in events:
            await tx.audit.insert(event)
        first = await tx.audit.search(owner.id, PageRequest(size=2, offset=0), "", "")
        assert first.items == events[:2]
        assert (first.total, first.next_offset) == (5, 2)
        second = await tx.audit.search(owner.id, PageRequest(size=2, offset=2), "", "")
        assert second.items == events[2:4]
        assert (second.total, second.next_offset) == (5, 4)
        last = await tx.audit.search(owner.id, PageRequest(size=2, offset=4), "", "")
        assert last.items == events[4:]
        assert (last.total, last.next_offset) == (5, None)
        beyond = await tx.audit.search(owner.id, PageRequest(size=2, offset=10), "", "")
        assert (beyond.items, beyond.total, beyond.next_offset) == ([], 5, None)


async def test_search_of_a_tenant_without_events_is_empty(uow: Any) -> None:
    async with uow.read() as tx:
        page = await tx.audit.search(builders.new_id(), PageRequest(), "", "")
        assert (page.items, page.total, page.next_offset) == ([], 0, None)


async def test_details_returned_are_a_copy(uow: Any) -> None:
    async with uow.transaction() as tx:
        owner = await builders.tenant(tx)
        event = _event(owner, details={"list": [1, 2], "map": {"k": "v"}})
        await tx.audit.insert(event)
        found = (await tx.audit.search(owner.id, PageRequest(), "", "")).items[0]
        found.details["list"].append(3)
        found.details["map"]["k"] = "changed"
        again = (await tx.audit.search(owner.id, PageRequest(), "", "")).items[0]
        assert again.details == {"list": [1, 2], "map": {"k": "v"}}


async def test_an_event_of_a_rolled_back_unit_of_work_is_not_kept(uow: Any) -> None:
    target = unique("target")

    class Abort(Exception):
        pass

    try:
        async with uow.transaction() as tx:
            await tx.audit.insert(_event(None, target_id=target))
            raise Abort
    except Abort:
        pass
    async with uow.read() as tx:
        assert (await tx.audit.search(None, PageRequest(), "", target)).items == []

"""The snapshot cache's promise (ARCHITECTURE §5; services.common.versions): once an admin write
has returned, the very next token reflects it (no stale window); a warm exchange asks the
registry nothing; a snapshot is never served for another tenant; an unreadable board sends every
request to the registry, an unreachable registry leaves matching snapshots serving and never
lets a stale one through. The registry's use cases run over the in-memory stores behind the
token service, sharing one version board as in one process (tests/unit/token/fakes.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import jwt
import pytest

from services.common.errors import DomainError, InvalidArgument, Unauthenticated, Unavailable
from services.common.versions import PLATFORM, InProcessVersionBoard
from services.registry.apps.models import AppDraft, AppPatch
from services.registry.catalog.models import PermissionDeclaration
from services.registry.clients.models import ClientPatch
from services.registry.plans.models import PlanDraft, PlanPatch
from services.registry.roles.models import PermissionRef, RoleDraft
from services.registry.tenants.models import TenantDraft
from services.token.domain.snapshot_cache import SnapshotCache
from services.token.domain.snapshots import ClientSnapshot
from tests.unit.registry import fakes
from tests.unit.token.fakes import TokenWorld, token_world

ADMIN = fakes.tenant_admin("acme")
OPERATOR = fakes.operator()
T = TypeVar("T")
DOWN = Unavailable("REGISTRY_UNAVAILABLE", "The registry cannot be reached; retry shortly.")


@dataclass
class World:
    tw: TokenWorld
    client_id: str
    secret: str

    @property
    def features(self) -> Any:
        return self.tw.features

    @property
    def reads(self) -> int:
        return self.tw.registry.snapshot_reads

    async def exchange(self, **request: Any) -> Any:
        return await self.tw.exchange(self.client_id, self.secret, **request)

    async def claims(self, **request: Any) -> dict[str, Any]:
        issued = await self.exchange(**request)
        return jwt.decode(issued.access_token, options={"verify_signature": False})


async def world(board: InProcessVersionBoard | None = None, *, plan: bool = False) -> World:
    """Tenant ``acme``, app ``billing`` (catalog ``invoice:read``, ``invoice:write``; on plan
    ``starter`` if ``plan``) and its first client, holding role ``clerk``
    (``invoice:read``) and scope ``reports.read``; its first token already minted, so its
    snapshot is cached."""
    tw = await token_world(board=board)
    if plan:
        await tw.features.plans.create(
            OPERATOR, PlanDraft(code="starter", name="Starter", limits={"units": 10})
        )
    # Assigning a plan is an operator's call.
    _, credentials = await tw.features.apps.create(
        OPERATOR if plan else ADMIN,
        "acme",
        AppDraft(
            slug="billing", display_name="Billing", region="eu", plan="starter" if plan else ""
        ),
    )
    await tw.features.catalog.register(
        ADMIN,
        "acme",
        "billing",
        [PermissionDeclaration("invoice:read"), PermissionDeclaration("invoice:write")],
    )
    clerk = await tw.features.roles.create(ADMIN, "acme", RoleDraft(code="clerk", name="Clerk"))
    await set_permissions(tw, clerk.id, "invoice:read")
    await tw.features.scopes.create(ADMIN, "acme", "reports.read", "", "")
    await tw.features.clients.update(
        ADMIN,
        "acme",
        credentials.client_id,
        ClientPatch(roles=("clerk",), scopes=("reports.read",)),
        0,
    )
    w = World(tw, credentials.client_id, credentials.client_secret)
    await w.exchange()
    return w


async def set_permissions(tw: TokenWorld, role_id: str, *codes: str) -> None:
    refs = [PermissionRef("billing", code) for code in codes]
    await tw.features.roles.set_permissions(ADMIN, "acme", role_id, refs, "")


async def warm(w: World) -> None:
    """One more exchange, served from the cache: the registry is not asked."""
    reads = w.reads
    await w.exchange()
    assert w.reads == reads


async def within(awaitable: Awaitable[T], seconds: float = 2.0) -> T:
    """Await what a held or released step should finish at once: a broken cache fails the
    test here instead of hanging it."""
    return await asyncio.wait_for(awaitable, seconds)


def reason(error: DomainError) -> str:
    return error.reason


# -- no stale window ---------------------------------------------------------------------------


async def test_a_warm_exchange_asks_the_registry_nothing() -> None:
    w = await world()
    reads = w.reads
    for _ in range(3):
        await w.exchange()
    assert w.reads == reads
    assert w.tw.cache.fetches == reads


async def test_a_roles_new_permissions_are_in_the_very_next_token() -> None:
    w = await world()
    assert (await w.claims())["permissions"] == ["invoice:read"]
    clerk = await w.features.roles.get(ADMIN, "acme", "clerk")
    await set_permissions(w.tw, clerk.id, "invoice:read", "invoice:write")
    assert (await w.claims())["permissions"] == ["invoice:read", "invoice:write"]
    await set_permissions(w.tw, clerk.id)
    assert (await w.claims())["permissions"] == []


async def test_a_disabled_app_gets_no_token_from_the_very_next_request() -> None:
    w = await world()
    await warm(w)
    await w.features.apps.update(ADMIN, "acme", "billing", AppPatch(enabled=False), 0)
    with pytest.raises(DomainError) as caught:
        await w.exchange()
    assert reason(caught.value) == "APP_DISABLED"


async def test_a_retired_plan_blocks_the_very_next_request() -> None:
    w = await world(plan=True)
    await warm(w)
    await w.features.plans.update(OPERATOR, "starter", PlanPatch(status="retired"), 0)
    with pytest.raises(DomainError) as caught:
        await w.exchange()
    assert reason(caught.value) == "PLAN_RETIRED"


async def test_a_plans_new_limits_are_in_the_very_next_token() -> None:
    w = await world(plan=True)
    assert (await w.claims())["entitlements"] == {"units": 10}
    await w.features.plans.update(OPERATOR, "starter", PlanPatch(limits={"units": 20}), 0)
    assert (await w.claims())["entitlements"] == {"units": 20}


async def test_a_regenerated_secret_replaces_the_old_one_at_once_without_grace() -> None:
    w = await world()
    await warm(w)
    fresh = await w.features.clients.regenerate_secret(ADMIN, "acme", w.client_id, 0)
    with pytest.raises(Unauthenticated):
        await w.exchange()
    await w.tw.exchange(w.client_id, fresh.client_secret)


@pytest.mark.parametrize("change", ["disable", "delete"])
async def test_a_disabled_or_deleted_client_is_refused_from_the_very_next_request(
    change: str,
) -> None:
    w = await world()
    await warm(w)
    if change == "disable":
        await w.features.clients.update(ADMIN, "acme", w.client_id, ClientPatch(enabled=False), 0)
    else:
        await w.features.clients.delete(ADMIN, "acme", w.client_id)
    with pytest.raises(Unauthenticated) as caught:
        await w.exchange()
    assert reason(caught.value) == "INVALID_CLIENT"


async def test_a_scope_taken_from_the_client_is_refused_from_the_very_next_request() -> None:
    w = await world()
    assert (await w.exchange(scope="reports.read")).scope == "reports.read"
    await w.features.clients.update(ADMIN, "acme", w.client_id, ClientPatch(scopes=()), 0)
    with pytest.raises(InvalidArgument) as caught:
        await w.exchange(scope="reports.read")
    assert reason(caught.value) == "INVALID_SCOPE"
    # Gone from the tenant altogether: still refused.
    await w.features.scopes.delete(ADMIN, "acme", "reports.read")
    with pytest.raises(InvalidArgument):
        await w.exchange(scope="reports.read")


# -- tenants -----------------------------------------------------------------------------------


async def test_a_snapshot_is_never_served_for_another_tenant() -> None:
    w = await world()
    await w.features.tenants.create(OPERATOR, TenantDraft(slug="globex", display_name="G"))
    await warm(w)
    reads = w.reads
    with pytest.raises(Unauthenticated):
        await w.tw.exchange(w.client_id, w.secret, tenant="globex")
    assert w.reads == reads + 1  # asked of the registry, for globex
    elsewhere = await w.tw.cache.get("globex", w.client_id)
    assert (elsewhere.found, elsewhere.tenant, elsewhere.client_id) == (False, "globex", "")
    # The answer for globex is cached too, and acme's entry is untouched.
    assert w.reads == reads + 1
    await warm(w)


# -- when the board or the registry fails ------------------------------------------------------


class UnreadableBoard(InProcessVersionBoard):
    """A board that takes announcements but cannot be read (Redis failing on reads)."""

    async def current(self, scopes: Sequence[str]) -> list[int | None]:
        raise Unavailable("VERSION_BOARD_UNAVAILABLE", "Redis cannot be read.")


async def test_an_unreadable_board_sends_every_request_to_the_registry() -> None:
    w = await world(UnreadableBoard())
    reads = w.reads
    for n in range(1, 4):
        await w.exchange()
        assert w.reads == reads + n
    await w.features.apps.update(ADMIN, "acme", "billing", AppPatch(enabled=False), 0)
    with pytest.raises(DomainError) as caught:
        await w.exchange()
    assert reason(caught.value) == "APP_DISABLED"


async def test_an_unreachable_registry_leaves_matching_snapshots_serving() -> None:
    w = await world()
    w.tw.registry.fail = DOWN
    for _ in range(3):
        await w.exchange()
    w.tw.registry.fail = None


async def test_an_unreachable_registry_never_lets_a_moved_snapshot_serve() -> None:
    w = await world()
    await w.features.apps.update(ADMIN, "acme", "billing", AppPatch(display_name="Billing 2"), 0)
    w.tw.registry.fail = DOWN
    with pytest.raises(Unavailable) as caught:
        await w.exchange()
    assert caught.value.reason == "REGISTRY_UNAVAILABLE"
    w.tw.registry.fail = None
    await w.exchange()


async def test_a_board_that_lost_its_numbers_gets_them_back_from_the_next_read() -> None:
    w = await world()
    known = await w.tw.board.current(["acme", PLATFORM])
    await w.tw.board.close()  # a Redis that restarted empty
    assert await w.tw.board.current(["acme", PLATFORM]) == [None, None]
    reads = w.reads
    await w.exchange()
    assert w.reads == reads + 1
    assert await w.tw.board.current(["acme", PLATFORM]) == known
    await warm(w)
    # And a write after that still reaches the next request.
    await w.features.apps.update(ADMIN, "acme", "billing", AppPatch(enabled=False), 0)
    with pytest.raises(DomainError):
        await w.exchange()


async def test_a_remembered_version_never_replaces_a_newer_announcement() -> None:
    board = InProcessVersionBoard()
    await board.announce("acme", 7)
    await board.remember("acme", 5)
    await board.remember(PLATFORM, 2)
    assert await board.current(["acme", PLATFORM]) == [7, 2]


# -- writes in flight --------------------------------------------------------------------------


async def test_a_write_announced_but_not_committed_leaves_no_stale_snapshot_behind() -> None:
    w = await world()
    [version] = await w.tw.board.current(["acme"])
    assert version is not None
    # The write bumped and announced its version; its change is not committed yet.
    await w.tw.board.announce("acme", version + 1)
    reads = w.reads
    await w.exchange()  # the old facts: the write has not returned
    assert w.reads == reads + 1
    # The write commits at the version it announced.
    await w.features.apps.update(ADMIN, "acme", "billing", AppPatch(enabled=False), 0)
    assert await w.tw.board.current(["acme"]) == [version + 1]
    with pytest.raises(DomainError) as caught:
        await w.exchange()
    assert reason(caught.value) == "APP_DISABLED"


class PausingBoard(InProcessVersionBoard):
    """Holds a write between its announcement and its commit while ``hold`` is set."""

    def __init__(self) -> None:
        super().__init__()
        self.hold: asyncio.Event | None = None
        self.announced = asyncio.Event()

    async def announce(self, scope: str, version: int) -> None:
        await super().announce(scope, version)
        if self.hold is not None:
            self.announced.set()
            await self.hold.wait()


async def _paused_write(board: PausingBoard, write: Awaitable[Any]) -> asyncio.Task[Any]:
    """Start ``write`` and return once it has announced its version, before it commits."""
    board.hold = asyncio.Event()
    task = asyncio.ensure_future(write)
    await within(board.announced.wait())
    return task


async def test_a_request_during_a_write_in_flight_leaves_no_stale_snapshot_after_it() -> None:
    board = PausingBoard()
    w = await world(board)
    write = await _paused_write(
        board, w.features.apps.update(ADMIN, "acme", "billing", AppPatch(enabled=False), 0)
    )
    await w.exchange()  # the write has not returned: the old facts may still serve
    assert board.hold is not None
    board.hold.set()
    await within(write)
    with pytest.raises(DomainError) as caught:
        await w.exchange()
    assert reason(caught.value) == "APP_DISABLED"


async def test_a_board_that_loses_its_numbers_during_a_write_still_serves_nothing_stale() -> None:
    board = PausingBoard()
    w = await world(board)
    write = await _paused_write(
        board, w.features.apps.update(ADMIN, "acme", "billing", AppPatch(enabled=False), 0)
    )
    await board.close()  # Redis restarts empty while the write is in flight
    # The registry restores the board only while it holds the version rows: the request waits
    # for the write in flight instead of restoring the number the write is about to replace.
    pending = asyncio.ensure_future(w.exchange())
    await _settle()
    assert not pending.done()
    assert board.hold is not None
    board.hold.set()
    await within(write)
    for attempt in (pending, asyncio.ensure_future(w.exchange())):
        with pytest.raises(DomainError) as caught:
            await within(attempt)
        assert reason(caught.value) == "APP_DISABLED"


# -- concurrent first requests -----------------------------------------------------------------


def _hold_reads(tw: TokenWorld, gate: asyncio.Event, fail: Exception | None = None) -> None:
    async def held(snapshot: ClientSnapshot) -> None:
        await gate.wait()
        if fail is not None:
            raise fail

    tw.registry.on_snapshot = held


async def _settle() -> None:
    for _ in range(10):
        await asyncio.sleep(0)


async def test_concurrent_first_requests_share_one_registry_read() -> None:
    w = await world()
    await w.features.apps.update(ADMIN, "acme", "billing", AppPatch(display_name="B2"), 0)
    gate = asyncio.Event()
    _hold_reads(w.tw, gate)
    reads = w.reads
    requests = [asyncio.ensure_future(w.exchange()) for _ in range(5)]
    await _settle()
    gate.set()
    issued = await within(asyncio.gather(*requests))
    assert len({i.access_token for i in issued}) == 5
    assert w.reads == reads + 1


async def test_a_failed_shared_read_fails_every_waiter_and_the_next_request_reads_again() -> None:
    w = await world()
    await w.features.apps.update(ADMIN, "acme", "billing", AppPatch(display_name="B2"), 0)
    gate = asyncio.Event()
    _hold_reads(w.tw, gate, DOWN)
    reads = w.reads
    requests = [asyncio.ensure_future(w.exchange()) for _ in range(3)]
    await _settle()
    gate.set()
    outcomes = await within(asyncio.gather(*requests, return_exceptions=True))
    assert [type(o) for o in outcomes] == [Unavailable] * 3
    assert w.reads == reads + 1
    w.tw.registry.on_snapshot = None
    await w.exchange()
    assert w.reads == reads + 2


async def test_a_request_after_a_write_never_joins_a_read_that_began_before_it() -> None:
    w = await world()
    await w.features.apps.update(ADMIN, "acme", "billing", AppPatch(display_name="B2"), 0)
    gate, read = asyncio.Event(), asyncio.Event()

    async def held(snapshot: ClientSnapshot) -> None:
        read.set()
        await gate.wait()

    w.tw.registry.on_snapshot = held
    before = asyncio.ensure_future(w.exchange())
    await within(read.wait())  # its read saw the app enabled
    await w.features.apps.update(ADMIN, "acme", "billing", AppPatch(enabled=False), 0)
    w.tw.registry.on_snapshot = None
    after = asyncio.ensure_future(w.exchange())  # begins after the write returned
    await _settle()
    gate.set()
    await within(before)  # began before the write: the old facts are fine
    with pytest.raises(DomainError) as caught:
        await within(after)
    assert reason(caught.value) == "APP_DISABLED"


# -- the bound ---------------------------------------------------------------------------------


async def test_the_cache_keeps_the_most_recently_used_entries_within_its_bound() -> None:
    w = await world()
    clients = [w.client_id]
    for slug in ("shop", "ledger"):
        _, credentials = await fakes.app(w.tw.seeded, slug)
        clients.append(credentials.client_id)
    a, b, c = clients
    cache = SnapshotCache(w.tw.registry, w.tw.board, entries=2)

    async def reads_for(*client_ids: str) -> int:
        before = w.reads
        for client_id in client_ids:
            snapshot = await cache.get("acme", client_id)
            assert (snapshot.found, snapshot.client_id) == (True, client_id)
        return w.reads - before

    assert await reads_for(a, b) == 2
    assert await reads_for(a, b) == 0
    assert await reads_for(a) == 0  # a is now the most recently used
    assert await reads_for(c) == 1  # evicts b, the least recently used
    assert await reads_for(a, c) == 0
    assert await reads_for(b) == 1  # evicts a
    assert await reads_for(c, b) == 0
    assert await reads_for(a) == 1


# -- abuse -------------------------------------------------------------------------------------


async def test_requests_for_made_up_tenants_leave_nothing_on_the_version_board() -> None:
    w = await world()
    names = [f"ghost-{n}" for n in range(20)]
    for name in names:
        with pytest.raises(Unauthenticated):
            await w.tw.exchange(w.client_id, w.secret, tenant=name)
    assert await w.tw.board.current(names) == [None] * len(names)

"""Token revocation (RFC 7009) of access tokens by ``jti`` (services.token.domain.revocation):
who may revoke what, what is recorded and for how long, and that a revocation recorded by one
token-service replica is seen by the next introspection on any other at once, through the
version board, whatever the board does."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import jwt
import pytest

from services.common.errors import Unauthenticated, Unavailable
from services.common.versions import InProcessVersionBoard
from services.registry.apps.models import AppDraft
from services.registry.clients.models import ClientDraft
from services.registry.tenants.models import TenantDraft
from services.token.domain.revocation import RevokedToken, board_scope
from services.token.domain.snapshot_cache import SnapshotCache
from services.token.storage.revocations import MemoryRevocationStore
from tests.unit.registry import fakes
from tests.unit.token.fakes import TokenChecks, TokenWorld, token_checks, token_world

ADMIN = fakes.tenant_admin("acme")
INACTIVE = {"active": False}


class RecordingStore(MemoryRevocationStore):
    def __init__(self) -> None:
        super().__init__()
        self.recorded: list[RevokedToken] = []
        self.reads = 0

    async def record(self, token: RevokedToken) -> None:
        self.recorded.append(token)
        await super().record(token)

    async def is_revoked(self, tenant: str, jti: str) -> bool:
        self.reads += 1
        return await super().is_revoked(tenant, jti)


class FlakyBoard(InProcessVersionBoard):
    """A board whose announcements or reads fail while told to, and that can lose its
    numbers (a Redis restart)."""

    def __init__(self) -> None:
        super().__init__()
        self.announcing = True
        self.readable = True

    async def announce(self, scope: str, version: int) -> None:
        if not self.announcing:
            raise Unavailable("VERSION_BOARD_UNAVAILABLE", "down")
        await super().announce(scope, version)

    async def current(self, scopes: Any) -> list[int | None]:
        if not self.readable:
            raise Unavailable("VERSION_BOARD_UNAVAILABLE", "down")
        return await super().current(scopes)

    def restart(self) -> None:
        self._versions.clear()


async def client(tw: TokenWorld, *apps: str, tenant: str = "acme", **draft: Any) -> tuple[str, str]:
    view, issued = await tw.features.clients.create(
        fakes.tenant_admin(tenant),
        tenant,
        ClientDraft(display_name=draft.pop("display_name", "Client"), apps=apps, **draft),
    )
    return view.client.client_id, issued.client_secret if issued else ""


async def setup(
    board: InProcessVersionBoard | None = None,
) -> tuple[TokenWorld, TokenChecks, tuple[str, str], tuple[str, str]]:
    """A token world over ``board``, its checks over a recording store, the ``billing``
    app's client and a resource server's client."""
    tw = await token_world(board=board)
    _, issued = await fakes.app(tw.seeded, "billing")
    checks = token_checks(tw, store=RecordingStore())
    return tw, checks, (issued.client_id, issued.client_secret), await client(tw, "billing")


async def mint(tw: TokenWorld, caller: tuple[str, str], **request: Any) -> str:
    return str((await tw.exchange(*caller, **request)).access_token)


def claims_of(token: str) -> dict[str, Any]:
    return dict(jwt.decode(token, options={"verify_signature": False}))


def replica(tw: TokenWorld, store: MemoryRevocationStore) -> TokenChecks:
    """Another token-service replica: its own snapshot, key and revocation caches over the
    same registry, board and revocation store."""
    return token_checks(tw, store=store, snapshots=SnapshotCache(tw.registry, tw.board))


# -- who may revoke what -----------------------------------------------------------------------


async def test_a_client_revokes_its_token_by_jti_until_the_token_would_expire() -> None:
    tw, checks, worker, rs = await setup()
    token, kept = await mint(tw, worker), await mint(tw, worker)
    await checks.revoke(worker, token)
    assert await checks.introspect(rs, token) == INACTIVE
    assert (await checks.introspect(rs, kept))["active"] is True
    claims = claims_of(token)
    store = checks.store
    assert isinstance(store, RecordingStore)
    assert store.recorded == [
        RevokedToken(
            tenant="acme",
            jti=claims["jti"],
            revoked_at=tw.clock(),
            expires_at=datetime.fromtimestamp(claims["exp"], UTC),
        )
    ]
    # Revoked twice: nothing changes.
    await checks.revoke(worker, token)
    assert await checks.introspect(rs, token) == INACTIVE


async def test_tokens_it_may_not_revoke_are_answered_alike_and_nothing_is_recorded() -> None:
    tw, checks, worker, rs = await setup()
    await tw.features.tenants.create(fakes.operator(), TenantDraft(slug="globex", display_name="G"))
    _, globex = await tw.features.apps.create(
        fakes.tenant_admin("globex"),
        "globex",
        AppDraft(slug="billing", display_name="Billing", region="eu"),
    )
    theirs = await mint(tw, (globex.client_id, globex.client_secret), tenant="globex")
    expired = await mint(tw, worker)
    tw.clock.advance(900)
    others = await mint(tw, rs)  # another client's token of the same tenant
    fresh = await mint(tw, worker)
    for token in (theirs, others, expired, "", "not-a-token", fresh[:-6] + "AAAAAA"):
        await checks.revoke(worker, token)
    await checks.revoke(worker, fresh, hint="refresh_token")  # a hint changes nothing
    store = checks.store
    assert isinstance(store, RecordingStore)
    assert [r.jti for r in store.recorded] == [claims_of(fresh)["jti"]]
    assert (await checks.introspect(rs, others))["active"] is True


async def test_a_caller_that_does_not_authenticate_is_invalid_client_and_revokes_nothing() -> None:
    tw, checks, worker, _ = await setup()
    token = await mint(tw, worker)
    public = await client(tw, "billing", confidential=False)
    for caller in ((worker[0], "tsk_" + "x" * 43), (worker[0], ""), ("", ""), (public[0], "x")):
        with pytest.raises(Unauthenticated) as caught:
            await checks.revoke(caller, token)
        assert caught.value.metadata == {"oauth_error": "invalid_client"}
    # RFC 7009 §2.1: a public client is identified by its client_id (it revokes only its own).
    await checks.revoke(public, token)
    store = checks.store
    assert isinstance(store, RecordingStore)
    assert store.recorded == []


# -- seen at once on every replica -------------------------------------------------------------


async def test_a_revocation_on_one_replica_is_seen_at_once_by_introspection_on_another() -> None:
    tw, a, worker, rs = await setup()
    b = replica(tw, a.store)
    token = await mint(tw, worker)
    assert (await b.introspect(rs, token))["active"] is True
    reads = b.revocations.store_reads
    assert (await b.introspect(rs, token))["active"] is True
    assert b.revocations.store_reads == reads  # warm: "not revoked" is served from cache
    await a.revoke(worker, token)
    assert await b.introspect(rs, token) == INACTIVE
    # Another tenant's revocations move only their own version.
    assert await tw.board.current([board_scope("globex")]) == [None]


async def test_a_revoked_answer_is_cached_for_good() -> None:
    tw, a, worker, rs = await setup()
    b = replica(tw, a.store)
    token = await mint(tw, worker)
    await a.revoke(worker, token)
    assert await b.introspect(rs, token) == INACTIVE
    reads = b.revocations.store_reads
    await a.revoke(worker, await mint(tw, worker))  # the version moves on
    assert await b.introspect(rs, token) == INACTIVE
    assert b.revocations.store_reads == reads


async def test_a_board_that_lost_its_numbers_never_serves_a_stale_not_revoked() -> None:
    board = FlakyBoard()
    tw, a, worker, rs = await setup(board)
    b = replica(tw, a.store)
    token = await mint(tw, worker)
    assert (await b.introspect(rs, token))["active"] is True  # cached under the version
    await a.revoke(worker, token)
    board.restart()  # the announcement is lost with everything else on the board
    assert await b.introspect(rs, token) == INACTIVE


async def test_an_unreadable_board_means_reading_the_store_every_time() -> None:
    board = FlakyBoard()
    tw, a, worker, rs = await setup(board)
    b = replica(tw, a.store)
    token = await mint(tw, worker)
    await b.introspect(rs, token)
    board.readable = False
    reads = b.revocations.store_reads
    b_revocations = b.revocations
    assert await b_revocations.is_revoked("acme", claims_of(token)["jti"]) is False
    assert await b_revocations.is_revoked("acme", claims_of(token)["jti"]) is False
    assert b.revocations.store_reads == reads + 2
    await a.revocations.record(
        RevokedToken("acme", claims_of(token)["jti"], tw.clock(), tw.clock())
    )
    assert await b_revocations.is_revoked("acme", claims_of(token)["jti"]) is True


async def test_without_a_board_revocations_are_read_from_the_store_every_time() -> None:
    tw, a, worker, rs = await setup()
    b = token_checks(tw, store=a.store, board=None)
    token = await mint(tw, worker)
    await b.introspect(rs, token)
    reads = b.revocations.store_reads
    await b.introspect(rs, token)
    assert b.revocations.store_reads == reads + 1
    unannounced = token_checks(tw, store=a.store, board=None)
    await unannounced.revoke(worker, token)
    assert await b.introspect(rs, token) == INACTIVE


async def test_a_revocation_that_cannot_be_announced_is_recorded_and_unavailable() -> None:
    board = FlakyBoard()
    tw, a, worker, rs = await setup(board)
    b = replica(tw, a.store)
    token = await mint(tw, worker)
    await b.introspect(rs, token)
    board.announcing = False
    with pytest.raises(Unavailable) as caught:
        await a.revoke(worker, token)
    assert caught.value.reason == "REVOCATION_NOT_ANNOUNCED"
    # Recorded (the replica that wrote it knows at once); RFC 7009 §2.2.1: on 503 the client
    # retries, and the retry announces it to every replica.
    assert await a.introspect(rs, token) == INACTIVE
    board.announcing = True
    await a.revoke(worker, token)
    assert await b.introspect(rs, token) == INACTIVE


async def test_a_revocation_store_that_fails_is_unavailable_and_nothing_is_announced() -> None:
    tw, checks, worker, _ = await setup()
    token = await mint(tw, worker)
    versions = await tw.board.current([board_scope("acme")])

    async def broken(token: RevokedToken) -> None:
        raise Unavailable("DEPENDENCY_UNAVAILABLE", "down")

    checks.store.record = broken  # type: ignore[method-assign]
    with pytest.raises(Unavailable):
        await checks.revoke(worker, token)
    assert await tw.board.current([board_scope("acme")]) == versions

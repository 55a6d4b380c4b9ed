"""No escalation (ARCHITECTURE §7): act only on principals holding no more admin permissions
than the caller; grant only what the caller holds. Only the platform catalogs count."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from services.common.auth import Principal
from services.common.changes import InProcessChangeBus
from services.registry.kernel.escalation import (
    EscalationDenied,
    ensure_no_escalation,
    ensure_outranks,
)
from services.registry.kernel.models import PageRequest
from services.registry.kernel.scope import UseCases
from services.registry.stores import memory_unit_of_work

TARGET = {"target_type": "client", "target_id": "tc_admin", "operation": "client.delete"}


def _caller(*permissions: str) -> Principal:
    return Principal(
        tenant="acme", subject="tc_1", kind="client", permissions=frozenset(permissions)
    )


def test_a_caller_outranks_a_target_holding_a_subset_of_its_admin_permissions() -> None:
    ensure_outranks(_caller("client:read", "client:write"), [("tessera", "client:read")], **TARGET)


def test_a_target_holding_more_is_refused_naming_what_the_caller_lacks() -> None:
    with pytest.raises(EscalationDenied) as caught:
        ensure_outranks(
            _caller("client:read", "client:write"),
            [("tessera", "client:write"), ("tessera", "user:write"), ("tessera", "role:write")],
            **TARGET,
        )
    assert caught.value.reason == "TARGET_OUTRANKS_CALLER"
    assert caught.value.metadata == {"permissions": "role:write,user:write"}
    assert caught.value.missing == ("role:write", "user:write")


def test_permissions_of_ordinary_apps_never_make_a_target_outrank_anyone() -> None:
    # The same string in an app's own catalog is another permission (Modgud seed).
    ensure_outranks(_caller(), [("billing", "user:write"), ("core", "users:read_self")], **TARGET)


def test_granting_a_control_plane_permission_needs_it_too() -> None:
    with pytest.raises(EscalationDenied) as caught:
        ensure_no_escalation(_caller("client:write"), [("control-plane", "tenant:write")], **TARGET)
    assert caught.value.reason == "ESCALATION"


async def test_a_refused_attempt_is_audited_with_the_operation_and_what_was_missing() -> None:
    uow = memory_unit_of_work()
    use_cases: UseCases[Any] = UseCases(
        uow, InProcessChangeBus(), lambda: datetime(2026, 12, 1, tzinfo=UTC)
    )

    async def delete_client() -> None:
        async with use_cases.write(_caller("client:write"), None) as scope:
            await scope.audit("client.delete", "client", "tc_admin")  # rolled back
            ensure_outranks(scope.principal, [("tessera", "app:write")], **TARGET)

    with pytest.raises(EscalationDenied):
        await delete_client()
    async with uow.read() as tx:
        [event] = (await tx.audit.search(None, PageRequest(), "", "")).items
    assert (event.action, event.target_type, event.target_id) == (
        "escalation.denied",
        "client",
        "tc_admin",
    )
    assert event.details == {
        "operation": "client.delete",
        "reason": "TARGET_OUTRANKS_CALLER",
        "missing": ["app:write"],
    }
    assert event.actor_id == "tc_1"

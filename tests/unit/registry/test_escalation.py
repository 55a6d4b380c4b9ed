"""No escalation (ARCHITECTURE §7): act only on principals holding no more admin permissions
than the caller; grant only what the caller holds. Only the platform catalogs count."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from services.common.auth import Principal
from services.registry.domain.escalation import (
    EscalationDenied,
    audits_denied_escalations,
    ensure_no_escalation,
    ensure_outranks,
)

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


class _Store:
    def __init__(self) -> None:
        self.events: list[Any] = []

    async def get_tenant(self, slug: str, *, for_update: bool = False) -> None:
        return None

    async def insert_audit(self, event: Any) -> None:
        self.events.append(event)


class _UseCases:
    def __init__(self) -> None:
        self.store = _Store()
        self.committed: list[Any] = []

    def _tx(self) -> Any:
        use_cases = self

        class _Unit:
            async def __aenter__(self) -> _Store:
                return use_cases.store

            async def __aexit__(self, *exc: object) -> None:
                return None

        return _Unit()

    @staticmethod
    def _now() -> datetime:
        return datetime(2026, 12, 1, tzinfo=UTC)

    @audits_denied_escalations
    async def delete_client(self, principal: Principal, tenant_slug: str, client_id: str) -> None:
        ensure_outranks(principal, [("tessera", "app:write")], **TARGET)


async def test_a_refused_attempt_is_audited_with_the_operation_and_what_was_missing() -> None:
    use_cases = _UseCases()
    with pytest.raises(EscalationDenied):
        await use_cases.delete_client(_caller("client:write"), "acme", "tc_admin")
    [event] = use_cases.store.events
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

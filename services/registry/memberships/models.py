"""Memberships (user_apps, Vendidit seed §1 and §6): a user may enter an app only while
their membership of it is active."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from services.common.vocabulary import MembershipStatus

# ``granted_by`` of a membership created at first login by an app's auto-grant.
AUTO_GRANT_ACTOR = "auto_grant_on_signup"


@dataclass(frozen=True)
class Membership:
    """user_apps (Vendidit seed §1): the user may enter the app while ``status`` is active."""

    user_id: str
    user_email: str
    app_id: str
    app_slug: str
    status: MembershipStatus
    granted_at: datetime
    granted_by: str
    revoked_at: datetime | None


@dataclass(frozen=True)
class Admission:
    """The outcome of admitting a user to an app: the active membership and the user's
    current token version (the ``tv`` claim to mint)."""

    membership: Membership
    token_version: int
    created: bool

"""Settings are validated at start with one clear line per bad variable."""

from __future__ import annotations

import pytest

from services.common.settings import SettingsError, load_settings


def test_bad_values_are_reported_with_their_variable_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TESSERA_HTTP_PORT", "70000")
    monkeypatch.setenv("TESSERA_DATABASE_URL", "mysql://x")
    with pytest.raises(SettingsError) as caught:
        load_settings()
    text = str(caught.value)
    assert "TESSERA_HTTP_PORT" in text
    assert "TESSERA_DATABASE_URL: Value error, must be a PostgreSQL URL" in text


def test_production_refuses_embedded_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TESSERA_MODE", "production")
    with pytest.raises(SettingsError) as caught:
        load_settings()
    text = str(caught.value)
    for variable in (
        "TESSERA_DATABASE_URL",
        "TESSERA_REDIS_URL",
        "TESSERA_ENCRYPTION_KEYS",
        "TESSERA_SECRET_PEPPERS",
    ):
        assert variable in text


def test_issuer_is_public_url_slash_t_slash_tenant(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TESSERA_PUBLIC_URL", "https://auth.example.com/")
    assert load_settings().issuer("acme") == "https://auth.example.com/t/acme"

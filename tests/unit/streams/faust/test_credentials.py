"""Faust gets the same Kafka identity as the confluent clients (pure mapping of Settings)."""

from __future__ import annotations

from pathlib import Path

import faust
import pytest
from pydantic import SecretStr

from base.settings import Settings
from streams.exceptions import CredentialsError
from streams.faust.credentials import faust_credentials


def test_plaintext_needs_no_credentials() -> None:
    assert faust_credentials(Settings()) is None


def test_sasl_ssl_scram_maps_user_password_mechanism_and_tls() -> None:
    s = Settings(kafka_security_protocol="SASL_SSL", kafka_sasl_mechanism="SCRAM-SHA-512",
                 kafka_sasl_username="credit", kafka_sasl_password=SecretStr("pw"))  # fmt: skip
    creds = faust_credentials(s)
    assert isinstance(creds, faust.SASLCredentials)
    assert (creds.username, creds.password) == ("credit", "pw")
    assert creds.mechanism.value == "SCRAM-SHA-512"
    assert creds.protocol.value == "SASL_SSL" and creds.ssl_context is not None


def test_sasl_plaintext_plain_has_no_tls() -> None:
    s = Settings(kafka_security_protocol="SASL_PLAINTEXT", kafka_sasl_mechanism="plain",
                 kafka_sasl_username="u", kafka_sasl_password=SecretStr("p"))  # fmt: skip
    creds = faust_credentials(s)
    assert isinstance(creds, faust.SASLCredentials)
    assert creds.protocol.value == "SASL_PLAINTEXT" and creds.ssl_context is None
    assert creds.mechanism.value == "PLAIN"


def test_ssl_uses_the_configured_ca_bundle(tmp_path: Path) -> None:
    import ssl

    creds = faust_credentials(Settings(kafka_security_protocol="SSL"))
    assert isinstance(creds, faust.SSLCredentials)
    assert creds.context.verify_mode == ssl.CERT_REQUIRED
    missing = Settings(kafka_security_protocol="SSL", kafka_ssl_ca_location=tmp_path / "no.pem")
    with pytest.raises(CredentialsError, match="CA bundle"):
        faust_credentials(missing)


def test_sasl_without_a_supported_mechanism_is_refused_with_the_setting_named() -> None:
    for mechanism in (None, "OAUTHBEARER"):
        s = Settings(kafka_security_protocol="SASL_SSL", kafka_sasl_mechanism=mechanism)
        with pytest.raises(CredentialsError, match="CREDIT_KAFKA_SASL_MECHANISM"):
            faust_credentials(s)


def test_confluent_config_carries_the_same_ca(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    conf = Settings(kafka_security_protocol="SSL", kafka_ssl_ca_location=ca).kafka_config("k:9093")
    assert conf["ssl.ca.location"] == str(ca)

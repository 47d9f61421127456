"""The worker's Faust (aiokafka) credentials, from the same settings the confluent clients use.

`Settings.kafka_config` gives librdkafka its security keys; Faust speaks to Kafka through
aiokafka, which takes `faust.SASLCredentials` / `faust.SSLCredentials` instead. Mapping both
from one `Settings` keeps the worker's Faust consumer and its confluent producer on the same
listener with the same identity.
"""

from __future__ import annotations

import ssl

import faust
from faust.types.auth import CredentialsT

from base.settings import Settings
from streams.exceptions import CredentialsError

# what aiokafka speaks; OAUTHBEARER needs a token callback the settings cannot express
SASL_MECHANISMS = frozenset({"PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "GSSAPI"})


def ssl_context(settings: Settings) -> ssl.SSLContext:
    """A client TLS context trusting `CREDIT_KAFKA_SSL_CA_LOCATION` (else the system CAs)."""
    ca = settings.kafka_ssl_ca_location
    try:
        return ssl.create_default_context(cafile=str(ca) if ca else None)
    except (OSError, ssl.SSLError) as exc:
        raise CredentialsError(f"cannot load the Kafka CA bundle {ca}: {exc}") from exc


def faust_credentials(settings: Settings) -> CredentialsT | None:
    """`broker_credentials=` for `faust.App`; None for PLAINTEXT."""
    protocol = settings.kafka_security_protocol
    if protocol == "PLAINTEXT":
        return None
    if protocol == "SSL":
        return faust.SSLCredentials(ssl_context(settings))
    mechanism = (settings.kafka_sasl_mechanism or "").upper()
    if mechanism not in SASL_MECHANISMS:
        raise CredentialsError(
            f"CREDIT_KAFKA_SECURITY_PROTOCOL={protocol} needs CREDIT_KAFKA_SASL_MECHANISM, one "
            f"of {', '.join(sorted(SASL_MECHANISMS))} (got {settings.kafka_sasl_mechanism!r})"
        )
    context = ssl_context(settings) if protocol == "SASL_SSL" else None
    if mechanism == "GSSAPI":
        return faust.GSSAPICredentials(ssl_context=context)
    secret = settings.kafka_sasl_password
    return faust.SASLCredentials(
        username=settings.kafka_sasl_username or "",
        password=secret.get_secret_value() if secret else "",
        ssl_context=context,
        mechanism=mechanism,
    )

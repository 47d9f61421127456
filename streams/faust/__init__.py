"""The Faust edge of the stream: the worker app, its tables and changelogs, the transport and
the state store. It moves records between Kafka and `streams.core`."""

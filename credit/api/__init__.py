"""The platform's HTTP API: the app and its routes, access control (tokens, roles), the
governed reads, reports, files, analyst SQL and the server that runs it."""

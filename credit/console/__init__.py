"""The web console (issue 22): pages a provider, the credit office and analysts use in a
browser, served by the platform's own HTTP server. The pages hold no data: they call the
same JSON API with the same keys and tokens, so the roles and the usage log apply as they do
to any client. Every asset is served from here (no CDN): office PCs often have no internet."""

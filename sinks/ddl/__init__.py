"""The store's schema: the static tables (the .sql files here), the class tables from the
catalog, the subject index, the replicated variant, retention, and the upgrades of older
stores."""

"""Out of the store: queries, reports, risk lists, collection statistics, governance
(objections, authorizations, repairs, the usage log), working days, the analysts' copy."""

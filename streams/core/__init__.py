"""The pure core of the stream: banned data, rules, identity, enrichment, the pipeline that
runs them in order, and the figures. Plain functions over records and columns: no Kafka, no
Faust, no ClickHouse (an import-linter contract keeps it so)."""

"""The MLflow adapter: connection, reads and writes, entities, sources, webhooks, verify."""

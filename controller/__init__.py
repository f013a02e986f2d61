"""aliasctl: GitOps promotion controller for MLflow registry aliases."""

"""The registry seam (what aliasctl needs of a registry), its lock, inventory and fault policy;
the MLflow adapter in registry/mlflow/ is the only code that imports mlflow."""

"""Analysis after a promotion: taking measurements (providers/) and running analyses.

core/analysis.py judges; this folder measures, talks to Prometheus, HTTP services,
MLflow and commands, and acts on the judgement.
"""

"""The git side: history, rollback, provenance, and import's file writer.

The only modules that import git.
"""

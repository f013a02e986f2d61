"""Environments: several registries (staging, prod) described by files in one repository,
and versions promoted from one to the next by copying them once, with their lineage."""

"""Rendering plans, applies, drift, history and evidence as text, markdown and JSON."""

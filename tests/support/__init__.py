"""What the tests start and share; see each module's docstring."""

"""The desired state: aliases.yaml read, validated and located (pure)."""

"""The national world: the programme's candidate firms at 1:1 scale (``national`` in the config; docs/ODD.md 7.15)."""

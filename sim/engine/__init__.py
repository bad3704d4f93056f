"""The engine: the model (assembly and the quarter's order), markets, world tables, recording and
run-directory writing. It imports the configuration, the agents and the scenarios, never the
research workflow or the classroom (the import contract in pyproject.toml)."""

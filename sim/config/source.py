"""Config files parsed once per process: a Hydra config source that remembers what it read.

Composing a config reads and parses every YAML file it selects. OmegaConf's YAML loader is pure Python and takes
about 0.2 s for conf/world/rare_earth_2015.yaml alone, so a process that composes many configs (the tests, the
validation, calibration and experiment runners, a notebook) spent most of each compose parsing the same files again.
This source is Hydra's file source (the one ``hydra.initialize_config_dir`` uses) with one change: the parse of a file is
kept, keyed by the file's real path and the hash of its bytes, and each load hands Hydra a deep copy of it. A compose
therefore sees exactly what a fresh read gives (a file edited between two composes is read again), and nothing Hydra
does to a loaded config reaches the kept one. Registered with Hydra's plugin registry (``Plugins.register``, Hydra's
documented way to add a config source) under the scheme ``lgconf``; ``sim.config.compose`` puts conf/ and a
``--config-dir`` on the search path with it.
"""

from __future__ import annotations

import copy
import hashlib
import os

from hydra._internal.core_plugins.file_config_source import FileConfigSource
from hydra.plugins.config_source import ConfigResult

SCHEME = "lgconf"

_parsed: dict[tuple[str, bytes], ConfigResult] = {}


class CachedFileConfigSource(FileConfigSource):
    """Hydra's file config source whose parses are kept for the process (module docstring)."""

    @staticmethod
    def scheme() -> str:
        return SCHEME

    def load_config(self, config_path: str) -> ConfigResult:
        full_path = os.path.realpath(os.path.join(self.path, self._normalize_file_name(config_path)))
        try:
            with open(full_path, "rb") as f:
                key = (full_path, hashlib.blake2b(f.read(), digest_size=16).digest())
        except OSError:
            return super().load_config(config_path)  # Hydra's own error for a missing or unreadable file
        kept = _parsed.get(key)
        if kept is None:
            kept = _parsed[key] = super().load_config(config_path)
        return ConfigResult(config=copy.deepcopy(kept.config), path=kept.path, provider=kept.provider, header=dict(kept.header))


def register() -> None:
    """Make the source known to Hydra (idempotent)."""
    from hydra.core.plugins import Plugins

    Plugins.instance().register(CachedFileConfigSource)


def search_path(directory: str) -> str:
    """``directory`` (absolute) as a search-path entry read through this source."""
    return f"{SCHEME}://{directory}"

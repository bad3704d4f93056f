"""Config files parsed once per process: a Hydra config source that remembers what it read.

Composing a config reads and parses every YAML file it selects. OmegaConf's YAML loader is pure Python and takes
about 0.2 s for conf/world/rare_earth_2015.yaml alone, so a process that composes many configs (the tests, the
validation, calibration and experiment runners, a notebook) spent most of each compose parsing the same files again.
This source is Hydra's file source (the one ``hydra.initialize_config_dir`` uses) with one change: the parse of a file is
kept, keyed by the file's real path and the hash of its bytes, and each load hands Hydra a copy of its own (unpickled
from the parse's pickle: about seven times as fast as a deep copy). A compose therefore sees exactly what a fresh read
gives (a file edited between two composes is read again), and nothing Hydra does to a loaded config reaches the kept
one. Registered with Hydra's plugin registry (``Plugins.register``, Hydra's
documented way to add a config source) under the scheme ``lgconf``; ``sim.config.compose`` puts conf/ and a
``--config-dir`` on the search path with it.

The first parse of a file in a process uses libyaml's parser (PyYAML's ``CSafeLoader``, about ten times faster than the
pure-Python one OmegaConf uses) with OmegaConf's loading rules: its scalar resolvers (a float without a dot, ``1e3``;
no timestamps) and constructors, taken from OmegaConf's own loader, and a mapping with a key twice refused. The
Python objects it gives are those OmegaConf's loader gives (tests/test_config.py compares them for every file under
conf/ and for the corner cases of the rules); where PyYAML was built without libyaml, Hydra's own load is used.
"""

from __future__ import annotations

import functools
import hashlib
import os
import pickle
from typing import Any

from hydra._internal.core_plugins.file_config_source import FileConfigSource
from hydra.plugins.config_source import ConfigResult

SCHEME = "lgconf"

_parsed: dict[tuple[str, bytes], tuple[bytes, str, str, dict[str, str]]] = {}  # the parse pickled, its path, provider, header


class CachedFileConfigSource(FileConfigSource):
    """Hydra's file config source whose parses are kept for the process (module docstring)."""

    @staticmethod
    def scheme() -> str:
        return SCHEME

    def load_config(self, config_path: str) -> ConfigResult:
        full_path = os.path.realpath(os.path.join(self.path, self._normalize_file_name(config_path)))
        try:
            with open(full_path, "rb") as f:
                data = f.read()
        except OSError:
            return super().load_config(config_path)  # Hydra's own error for a missing or unreadable file
        key = (full_path, hashlib.blake2b(data, digest_size=16).digest())
        kept = _parsed.get(key)
        if kept is None:
            r = self._parse(config_path, data)
            kept = _parsed[key] = (pickle.dumps(r.config, protocol=pickle.HIGHEST_PROTOCOL), r.path, r.provider, r.header)
        blob, path, provider, header = kept
        return ConfigResult(config=pickle.loads(blob), path=path, provider=provider, header=dict(header))  # noqa: S301 - our own bytes

    def _parse(self, config_path: str, data: bytes) -> ConfigResult:
        """A file's bytes as Hydra's file source loads them (OmegaConf.load and the ``# @package`` header), parsed by
        :func:`fast_load`; Hydra's own load where PyYAML has no libyaml or the bytes are not UTF-8."""
        from omegaconf import OmegaConf

        loader = fast_loader()
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            loader = None
        if loader is None:
            return super().load_config(config_path)
        header = self._get_header_dict(text[:512])  # Hydra reads the header from the first 512 characters
        obj = fast_load(text, loader)
        if obj is not None and not isinstance(obj, (list, dict, str)):
            raise OSError(f"Invalid loaded object type: {type(obj).__name__}")  # as OmegaConf.load
        cfg = OmegaConf.create() if obj is None else OmegaConf.create(obj)
        return ConfigResult(config=cfg, path=f"{self.scheme()}://{self.path}", provider=self.provider, header=header)


@functools.cache
def fast_loader() -> Any:
    """PyYAML's libyaml loader with OmegaConf's loading rules (the module docstring), or None without libyaml."""
    import yaml
    from omegaconf._utils import get_yaml_loader

    if not getattr(yaml, "__with_libyaml__", False):
        return None
    rules = get_yaml_loader()

    class Loader(yaml.CSafeLoader):
        def construct_mapping(self, node: Any, deep: bool = False) -> Any:
            seen: set[str] = set()
            for key_node, _ in node.value:  # plain scalar keys only, as OmegaConf's loader checks
                if key_node.tag == yaml.resolver.BaseResolver.DEFAULT_SCALAR_TAG:
                    if key_node.value in seen:
                        raise yaml.constructor.ConstructorError(
                            "while constructing a mapping", node.start_mark, f"found duplicate key {key_node.value}", key_node.start_mark
                        )
                    seen.add(key_node.value)
            return super().construct_mapping(node, deep=deep)

    Loader.yaml_implicit_resolvers = {k: list(v) for k, v in rules.yaml_implicit_resolvers.items()}
    Loader.yaml_constructors = dict(rules.yaml_constructors)
    return Loader


def fast_load(text: str, loader: Any = None) -> Any:
    """The Python object of a YAML document, as OmegaConf's loader gives it (``loader``: :func:`fast_loader`'s; without
    libyaml, OmegaConf's own loader, which is slower and refuses a key twice too)."""
    import yaml
    from omegaconf._utils import get_yaml_loader

    return yaml.load(text, Loader=loader or fast_loader() or get_yaml_loader())  # noqa: S506 - a safe loader with OmegaConf's rules


def register() -> None:
    """Make the source known to Hydra (idempotent)."""
    from hydra.core.plugins import Plugins

    Plugins.instance().register(CachedFileConfigSource)


def search_path(directory: str) -> str:
    """``directory`` (absolute) as a search-path entry read through this source."""
    return f"{SCHEME}://{directory}"

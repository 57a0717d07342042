"""Layer kinds from outside archspec, in every command: a plugin is a Python module that calls
`archspec.register_kind` when it is imported.

Plugins load from the entry-point group `archspec.kinds` of installed packages (as pytest and timm find theirs):

    [project.entry-points."archspec.kinds"]
    se = "my_package.se"          # the module that registers the kind

and from `--plugin MODULE_OR_FILE` on any command (a module name, or a `.py` file). What a command loads it also
names in the environment (`ARCHSPEC_PLUGINS`), so that the processes it starts (bench's `--jobs` workers, `--nproc`
ranks under torchrun) load the same. `provider(kind)` says which plugin registered a kind, so that a run records
what it was trained with and `eval` names what is missing.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import os
import sys
from importlib.metadata import entry_points
from pathlib import Path

from . import ir
from .errors import ArchspecError

GROUP = "archspec.kinds"
ENV = "ARCHSPEC_PLUGINS"  # os.pathsep-separated plugins, for the processes a command starts
_PROVIDERS: dict[str, str] = {}  # kind name -> the plugin (module name or file) that registered it


def kind_names() -> set[str]:
    return {k.model_fields["kind"].default for k in ir.KINDS}


def load(plugin: str) -> list[str]:
    """Import one plugin, a module name or a `.py` file; returns the kinds it registered. Loading it again is a
    no-op (a module is imported once), so every command and worker process may load what it is given."""
    before = kind_names()
    if plugin.endswith(".py") or "/" in plugin:
        plugin = str(Path(plugin).resolve())  # the same file from any working directory
    try:
        if plugin.endswith(".py") or "/" in plugin:
            _import_file(Path(plugin))
        else:
            importlib.import_module(plugin)
    except ArchspecError:
        raise
    except ModuleNotFoundError as e:
        if e.name and (plugin == e.name or plugin.startswith(e.name + ".")):
            raise ArchspecError(f"--plugin {plugin}: no module of that name (a module name or a .py file)") from None
        raise ArchspecError(f"plugin {plugin}: it imports {e.name!r}, which is not installed") from None
    except Exception as e:  # the plugin's own code failed: say so in one line, not as archspec's traceback
        raise ArchspecError(f"plugin {plugin}: {type(e).__name__}: {e}") from None
    new = sorted(kind_names() - before)
    for kind in new:
        _PROVIDERS[kind] = plugin
    return new


def _import_file(path: Path) -> None:
    if not path.is_file():
        raise ArchspecError(f"--plugin {path}: no such file (a module name or a .py file)")
    name = "archspec_plugin_" + hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:12]
    if name in sys.modules:
        return
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise


def load_installed() -> list[str]:
    """Every plugin of the `archspec.kinds` entry-point group; returns the kinds they registered."""
    return [kind for ep in entry_points(group=GROUP) for kind in load(ep.value)]


def load_all(plugins: list[str] | tuple[str, ...] = ()) -> None:
    """What a command or a worker loads before it reads a spec or a run: the installed plugins, those its parent
    process named in the environment, then `plugins`, which it names there in turn for its own children."""
    load_installed()
    named = [p for p in os.environ.get(ENV, "").split(os.pathsep) if p]
    for plugin in [*named, *plugins]:
        load(plugin)
    if plugins:
        resolved = [str(Path(p).resolve()) if p.endswith(".py") or "/" in p else p for p in plugins]
        os.environ[ENV] = os.pathsep.join(dict.fromkeys([*named, *resolved]))


def provider(kind: str) -> str | None:
    """The plugin that registered `kind`; None for archspec's own kinds and for kinds registered from code."""
    return _PROVIDERS.get(kind)


def used_by(net: ir.Network) -> dict[str, str]:
    """{kind: plugin} for each kind of `net` that a plugin registered: what a run records in run.json."""
    kinds = {node.kind for node in ir.walk(net.layers)}
    return {kind: _PROVIDERS[kind] for kind in sorted(kinds) if kind in _PROVIDERS}


def require(kinds: dict[str, str], where: str) -> None:
    """Say in one line which plugin a run was trained with that this process has not loaded. It is not loaded
    from the run's record: a run folder names code, and running it is the user's choice (`--plugin`)."""
    for kind, plugin in kinds.items():
        if kind not in kind_names():
            raise ArchspecError(
                f"{where}: the network uses kind {kind!r} from plugin {plugin!r}, which is not loaded; "
                f"pass --plugin {plugin} (or install the package that provides it)"
            )

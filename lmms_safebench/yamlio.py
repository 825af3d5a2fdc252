"""The one YAML reader of the package: safe tags only, and a budget on what aliases may expand to.

A YAML document can name a node (``&a``) and repeat it (``*a``). That is handy in a config (one model spec
used twice) but a few hundred bytes of nested aliases (an "alias bomb") stand for billions of values: parsing
stays cheap, since a repeated node is one shared object, but whatever walks the result afterwards (validation,
an error message quoting the input, a JSON dump) does not. So :func:`load` counts the values of the document
as if every alias were written out, and refuses a document over :data:`MAX_VALUES` with
:class:`YAMLBudgetError` (a :class:`yaml.YAMLError`, so callers that name a file for a YAML error name it for
this too). Aliases within the budget are fine; a recursive alias (a node containing itself) is refused.

Used for generation configs, ``select --config``, taxonomies, jury files and task YAMLs.
"""

from __future__ import annotations

import yaml

MAX_VALUES = 100_000  # values (scalars, lists, mappings) of a document once its aliases are expanded

_Base = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # the C parser when PyYAML has it: task folders are read often


class _Safe(_Base):
    pass


class _WithFunctions(_Base):
    """Task YAMLs: ``!function module.name`` stays the string ``module.name`` (nothing is imported)."""


_WithFunctions.add_constructor("!function", lambda loader, node: loader.construct_scalar(node))


class YAMLBudgetError(yaml.YAMLError):
    """A document too large once its aliases are expanded, nested too deeply, or with a recursive alias."""


def _check_budget(root) -> None:
    """Count the expanded values under ``root`` (each shared node once, by memo; no recursion: depth is free)."""
    sizes: dict[int, int] = {}
    open_nodes: set[int] = set()
    stack = [(root, False)]
    while stack:
        node, finished = stack.pop()
        key = id(node)
        children = _children(node)
        if finished:
            open_nodes.discard(key)
            sizes[key] = 1 + sum(sizes[id(child)] for child in children)
            if sizes[key] > MAX_VALUES:
                raise YAMLBudgetError(f"the document holds more than {MAX_VALUES:,} values once its aliases (*name) "
                                      "are expanded; refused (an alias bomb?). Write repeated parts out, or split "
                                      "the file")
            continue
        if key in sizes:
            continue
        if key in open_nodes:
            raise YAMLBudgetError("a recursive alias (a node that contains itself) is not allowed")
        open_nodes.add(key)
        stack.append((node, True))
        stack.extend((child, False) for child in children if id(child) not in sizes)


def _children(node) -> list:
    if isinstance(node, yaml.SequenceNode):
        return node.value
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []


def load(stream, functions: bool = False):
    """The one document in ``stream`` (text, bytes or an open file), as :func:`yaml.safe_load` would return it;
    :class:`yaml.YAMLError` when it is not YAML or is over the budget. ``functions``: read ``!function`` tags
    as plain strings (task YAMLs)."""
    loader = (_WithFunctions if functions else _Safe)(stream)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _check_budget(node)
        return loader.construct_document(node)
    except RecursionError:
        raise YAMLBudgetError("the document is nested too deeply") from None
    finally:
        loader.dispose()

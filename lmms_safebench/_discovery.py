"""The ``.pth`` line of installs made before task discovery moved to :mod:`lmms_safebench.harness.discovery`
imports this module: an editable install keeps its ``.pth`` until it is reinstalled, and a ``.pth`` line that fails
prints an error at every interpreter start. New installs import ``harness.discovery`` directly."""

from .harness.discovery import install  # noqa: F401

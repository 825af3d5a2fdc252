"""lmms-safebench: safety benchmarks for multimodal models, judged by a configurable LLM jury.

Flow: data (``lmms_safebench.data``) -> lmms-eval / lm-eval task (``tasks/``) -> model answer
-> jury (``lmms_safebench.jury``) -> metrics (``lmms_safebench.scoring``) -> report.

This module must stay import-light: the discovery hook imports it at every interpreter start.
"""

__version__ = "0.1.0"

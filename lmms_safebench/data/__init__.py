"""Data helpers every benchmark shares: the local store (:mod:`.store`: manifests, problems, paths inside the
folder the user named, downloads, staging) and the typography renderer (:mod:`.typography`). Each benchmark's own
builder and loader is its folder's ``data.py`` (``lmms_safebench/benchmarks/<name>/data.py``)."""

"""The LLM transport shared by the jury and the generators.

- :mod:`.spec`: what a model is and where it is served (pydantic; ``Device``/``DType`` defined here once).
- :mod:`.client`: an OpenAI-compatible endpoint, one request per call, failures classified, keys scrubbed.
- :mod:`.local`: a causal LM run in this process (transformers), batched; :func:`.local.make_backend` picks it
  or the endpoint client for a spec.
- :mod:`.models`: one loaded model per key per process, and where a model runs (``device: auto``).
- :mod:`.retry`: transient or permanent failures, retries with backoff that honour ``Retry-After``.
- :mod:`.limits`: the adaptive limit of calls in flight per endpoint.
- :mod:`.cache`: the call cache: one SQLite store, one key function.

Nothing here knows what a verdict or a generation stage is: :mod:`lmms_safebench.jury` and
:mod:`lmms_safebench.generate` sit on top. Importing this package imports none of its modules (start-up cost).
"""

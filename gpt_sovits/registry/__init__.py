"""Model files: where they are, getting them, and loading each once per process.

- :mod:`.layout`: the official pretrained file names under ``pretrained/``.
- :mod:`.catalog`: every model file that exists (pretrained, library voices, user files), without loading.
- :mod:`.download`: the Hugging Face hub download (resume, hash checks, mirror endpoint).
- :mod:`.importer`: offline import from a folder or an existing GPT-SoVITS installation.
- :mod:`.registry`: :class:`~gpt_sovits.registry.registry.ModelRegistry`, the process-wide cache of loaded
  models (thread-safe, least-recently-used eviction within a memory budget).

Import the submodule you need; this package itself imports nothing heavy.
"""

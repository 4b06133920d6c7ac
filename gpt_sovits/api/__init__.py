"""The HTTP API: GPT-SoVITS api_v2 compatible routes, OpenAI-compatible speech routes and ``/health``.

Build it with :func:`gpt_sovits.api.app.create_app` over an engine, or run it with
``python -m gpt_sovits serve`` (:mod:`gpt_sovits.api.server`). Modules: ``app`` (wiring), ``v2compat``
(``/tts`` and ``/set_*``), ``openai`` (``/v1/...``), ``audio_formats`` (encoders), ``security`` (keys,
binding, path policy, body limit), ``runner`` (threads, timeouts, cancellation).
"""

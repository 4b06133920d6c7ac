"""The Gradio WebUI. The only package that imports gradio; nothing imports it but webui.py."""

"""Fine-tuning: dataset formatting, GPT and SoVITS training, alignment QA and voice registration.

Run it as ``python -m gpt_sovits.training prepare|train-gpt|train-sovits|qa|register`` (see ``__main__``).
Importing the package does no work.
"""

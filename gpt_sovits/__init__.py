"""gpt_sovits: a voice-cloning studio in the GPT-SoVITS family.

Importing the package does no work: no model is loaded and no file is written.
"""

__version__ = "0.1.0"

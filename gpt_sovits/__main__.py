"""``python -m gpt_sovits COMMAND ...`` (see :mod:`gpt_sovits.cli`)."""

from gpt_sovits.cli import main

if __name__ == "__main__":
    raise SystemExit(main())

"""GPT-SoVITS dataset lists (``wav_path|speaker|lang|text``): lossless reading and writing, edits that move
audio (merge, split, delete to ``trash/``, restore) and per-row quality checks.

CLI: ``python -m tools.lists check|edit|merge|split|delete|restore LIST ...``.
"""

from tools.lists.check import FLAGS, CheckConfig, CheckReport, RowReport, check_list
from tools.lists.edit import (
    ListEditError,
    TrashEntry,
    delete_rows,
    merge_rows,
    restore_rows,
    split_row,
    trash_entries,
)
from tools.lists.listfile import (
    LANGUAGE_CODES,
    DatasetList,
    ListFormatError,
    ListRow,
    RawLine,
    check_field,
    clean_field,
)

__all__ = [
    "FLAGS",
    "LANGUAGE_CODES",
    "CheckConfig",
    "CheckReport",
    "DatasetList",
    "ListEditError",
    "ListFormatError",
    "ListRow",
    "RawLine",
    "RowReport",
    "TrashEntry",
    "check_field",
    "check_list",
    "clean_field",
    "delete_rows",
    "merge_rows",
    "restore_rows",
    "split_row",
    "trash_entries",
]

"""Pure model definitions (torch only) and the readers/writers of their files."""

"""Makes tests/helpers.py importable from every test folder (pytest puts this folder on sys.path)."""

"""``python -m raftviz``: see :mod:`raftviz.cli`."""

from raftviz.cli import main

if __name__ == "__main__":
    raise SystemExit(main())

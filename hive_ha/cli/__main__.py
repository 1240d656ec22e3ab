"""``python -m hive_ha.cli``: the same as the ``hive-ha`` console script."""
import sys

from hive_ha.cli import main

sys.exit(main())

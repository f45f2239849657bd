"""``python -m connect_user_sync`` is the same as the ``connect-user-sync`` script."""

import sys

from connect_user_sync.cli import main

sys.exit(main())

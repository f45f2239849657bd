"""The command line (``connect-user-sync``): everything that talks to a person at a terminal.

Only this subpackage imports ``rich``; the Lambda layer leaves it out (and ``__main__``).
"""

from connect_user_sync.cli.main import main

__all__ = ["main"]

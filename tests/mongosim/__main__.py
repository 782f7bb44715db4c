"""``python3 -m mongosim [mongod options]``"""

import sys

from .server import main

sys.exit(main())

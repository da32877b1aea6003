import sys

from squeezefire.dse.cli import main

sys.exit(main())

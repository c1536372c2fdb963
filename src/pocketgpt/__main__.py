import sys

from pocketgpt.cli import main

sys.exit(main())

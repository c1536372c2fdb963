import sys
from pathlib import Path

# The naive reference trainer lives beside the tests that use it.
sys.path.insert(0, str(Path(__file__).parent))

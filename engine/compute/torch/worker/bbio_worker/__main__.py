"""`python3 -m bbio_worker`: run the compute worker on stdio."""
import sys

from .server import main

sys.exit(main())

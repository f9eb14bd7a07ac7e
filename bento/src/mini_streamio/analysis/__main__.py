import sys

from mini_streamio.analysis.notebook import main

sys.exit(main())

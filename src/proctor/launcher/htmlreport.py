"""``python -m proctor.launcher.htmlreport FOLDER``, as run_all.sh scripts rendered before
the launcher's modules moved call it: the report is proctor.launcher.results.htmlreport."""

import sys

from proctor.launcher.results.htmlreport import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""Print the pip version(s) the installed ansible-test bootstraps into its venvs (for the offline cache)."""
import re
import sys
from pathlib import Path

import ansible_test

src = Path(ansible_test.__file__).parent / '_internal' / 'python_requirements.py'
versions = sorted(set(re.findall(r"pip='([0-9.]+)'", src.read_text())))
if not versions:
    sys.exit('cannot find the pip version ansible-test uses in %s' % src)
print(' '.join(versions))

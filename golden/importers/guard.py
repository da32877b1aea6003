"""Running the user's own code (their model file, its ``forward``): any
exception it raises -- ``SystemExit`` from a ``sys.exit()`` or
``argparse`` in it too -- becomes one ``ImportError_`` line naming where
it happened; only Ctrl-C (``KeyboardInterrupt``) goes through, so the
command ends as interrupted."""
from __future__ import annotations

from contextlib import contextmanager

from golden.bad_input import first_line
from golden.importers.ops import ImportError_

__all__ = ["users_code"]


@contextmanager
def users_code(where: str):
    try:
        yield
    except KeyboardInterrupt:
        raise
    except ImportError_:
        raise
    except SystemExit as e:
        raise ImportError_(f"{where}: raised SystemExit({e.code!r}) (a sys.exit() in the model's code)") from None
    except BaseException as e:          # the user's code: any error, reported in one line
        raise ImportError_(f"{where}: {type(e).__name__}: {first_line(e)}") from None

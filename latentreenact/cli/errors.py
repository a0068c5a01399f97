"""Exit codes and one-line error reporting for the CLI."""

from __future__ import annotations

import functools
import logging
import sys
from typing import Any, Callable, TypeVar

import click

from ..checkpoints.errors import CheckpointFormatError
from ..output_paths import UnsupportedOutputError

F = TypeVar("F", bound=Callable[..., Any])

EXIT_OK = 0
EXIT_USAGE = 2          # click's own code for bad options; also an output suffix we do not write
EXIT_NOT_FOUND = 3      # an input file or model is missing
EXIT_BAD_CHECKPOINT = 4  # a model file that cannot be read or does not fit
EXIT_BAD_INPUT = 5      # an input that is readable but unusable (bad values, NaN, ...)
EXIT_MISSING_EXTRA = 6  # an optional dependency (e.g. Gradio for ``demo``) is not installed
EXIT_IO = 7             # an output cannot be written (unwritable folder, a file or directory in the way, a full
                        # disk) or a file cannot be read for another reason (permissions)
EXIT_INTERRUPTED = 130

log = logging.getLogger("latentreenact.cli")


def fail(message: str, code: int) -> "click.exceptions.Exit":
    """Print ``error: message`` on stderr (one line: a multi-line message is joined with "; ") and exit
    with ``code``."""
    message = "; ".join(line.strip() for line in message.splitlines() if line.strip())
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def reports_errors(func: F) -> F:
    """Turn the library's exceptions into a one-line message and a specific exit code."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except FileNotFoundError as exc:
            fail(str(exc), EXIT_NOT_FOUND)
        except CheckpointFormatError as exc:
            fail(str(exc), EXIT_BAD_CHECKPOINT)
        except UnsupportedOutputError as exc:  # a ValueError, but about an option's value: -o
            fail(str(exc), EXIT_USAGE)
        except ValueError as exc:
            fail(str(exc), EXIT_BAD_INPUT)
        except OSError as exc:  # after FileNotFoundError: permissions, disk full, existing files in the way
            fail(str(exc) or type(exc).__name__, EXIT_IO)
        except KeyboardInterrupt:
            fail("interrupted", EXIT_INTERRUPTED)

    return wrapper  # type: ignore[return-value]

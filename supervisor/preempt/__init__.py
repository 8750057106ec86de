"""Pre-emption: the stop pages and the synchronous write of the hot path."""

from .board import PageBoard as PageBoard
from .board import Stopper as Stopper
from .board import StopRecord as StopRecord

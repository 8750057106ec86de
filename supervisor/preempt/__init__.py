"""Pre-emption: the stop board (now `sandbox.board`, re-exported here) and the stop thread."""

from sandbox.board import PageBoard as PageBoard
from sandbox.board import Stopper as Stopper
from sandbox.board import StopRecord as StopRecord

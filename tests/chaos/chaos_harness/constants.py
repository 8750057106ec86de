"""The names every part of the chaos world shares: the repository, the interpreter, the model,
and the ids of the car and the client in the mesh."""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
PYTHON = sys.executable
MODEL = "all-MiniLM-L6-v2"
EMBEDDING_SIZE = 384
CAR = "chaos-car"
CLIENT = "chaos-client"

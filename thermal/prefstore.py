"""Owner preferences on disk: one JSON file in the state directory, replaced atomically.

The file is apart from the configuration because the owner (through the app or
``parkmesh prefs set``) changes it at run time, while the configuration is the installer's. A
write goes to a temporary file in the same directory, is fsynced and renamed over the old one,
and the directory is fsynced: a power cut leaves the old file or the new one, never half.

The two fsyncs take milliseconds (much more on a worn eMMC), so the daemon writes with
`PreferenceStore.persist`, which runs `save` in a worker thread; the store remembers what it
last wrote or read, and a `save` of exactly that is a no-op (it is already durable), so that a
caller that persisted first can hand the same preferences to code that saves them itself.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import trio

from .preferences import OwnerPreferences, PreferenceError

FILE_NAME = "preferences.json"


class PreferenceStore:
    """Reads and writes `OwnerPreferences` at ``state_dir/preferences.json``."""

    def __init__(self, state_dir: Path | str) -> None:
        self.path = Path(state_dir) / FILE_NAME
        # What is on disk as far as this store knows (its last load or save).
        self._on_disk: OwnerPreferences | None = None

    def load(self) -> OwnerPreferences:
        """The stored preferences; the defaults if the file does not exist yet.

        Raises:
            PreferenceError: the file is unreadable, not JSON, or has a bad field (named, with
                the file).
        """
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return OwnerPreferences()
        except (OSError, UnicodeDecodeError) as exc:
            raise PreferenceError(
                "preferences", f"cannot read: {exc}", file=str(self.path)
            ) from None
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise PreferenceError(
                "preferences", f"not valid JSON: {exc}", file=str(self.path), line=exc.lineno
            ) from None
        try:
            prefs = OwnerPreferences.from_json(data)
        except PreferenceError as exc:
            raise PreferenceError(exc.field, exc.detail, file=str(self.path)) from None
        self._on_disk = prefs
        return prefs

    async def persist(self, prefs: OwnerPreferences) -> None:
        """`save` in a worker thread: returns once `prefs` are durable on disk.

        Cancellation: a write that has started runs to its end (the thread is not abandoned),
        so the file is never left half-replaced; then the cancellation is delivered.

        Raises:
            OSError: the state directory is not writable.
        """
        await trio.to_thread.run_sync(self.save, prefs)

    def save(self, prefs: OwnerPreferences) -> None:
        """Write `prefs` atomically (temporary file, fsync, rename, fsync of the directory).

        Blocks for two fsyncs: from the trio loop, use `persist`. Returns at once when `prefs`
        are what this store last wrote or read (already durable).

        Raises:
            OSError: the state directory is not writable.
        """
        if prefs == self._on_disk:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        text = json.dumps(prefs.to_json(), indent=2) + "\n"
        fd, tmp = tempfile.mkstemp(prefix=".preferences.", suffix=".tmp", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(text)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        dir_fd = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
        self._on_disk = prefs

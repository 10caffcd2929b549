"""The embedded (filesystem) broker, hardened: a message file that cannot be read as a message (corrupt,
truncated, hand-edited) is logged and dropped instead of killing the worker that polled it, and messages are
written under a temporary name and renamed, so a poller never reads half a message.

Registered under kombu's `filesystem` alias by `xclab.transport`, so `filesystem://` URLs use it everywhere."""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import uuid
from queue import Empty
from time import monotonic
from typing import Any

from kombu.exceptions import ChannelError
from kombu.transport import filesystem
from kombu.utils.encoding import bytes_to_str, str_to_bytes
from kombu.utils.json import dumps, loads

log = logging.getLogger(__name__)


class Channel(filesystem.Channel):
    def _put(self, queue: str, payload: Any, **kwargs: Any) -> None:
        name = f"{int(round(monotonic() * 1000))}_{uuid.uuid4()}.{queue}.msg"
        final = os.path.join(self.data_folder_out, name)
        partial = final + ".part"  # not "<queue>.msg": pollers skip it until the rename
        try:
            with open(partial, "wb") as fh:
                fh.write(str_to_bytes(dumps(payload)))
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(partial, final)
        except OSError as exc:
            raise ChannelError(f"Cannot add file {final!r} to directory") from exc

    def _get(self, queue: str) -> Any:
        wanted = f"{queue}.msg"
        for filename in sorted(os.listdir(self.data_folder_in)):
            if filename.partition(".")[2] != wanted:
                continue
            folder = self.processed_folder if self.store_processed else tempfile.gettempdir()
            try:
                shutil.move(os.path.join(self.data_folder_in, filename), folder)
            except OSError:
                continue  # another worker took it
            path = os.path.join(folder, filename)
            try:
                with open(path, "rb") as fh:
                    raw = fh.read()
                if not self.store_processed:
                    os.remove(path)
            except OSError as exc:
                raise ChannelError(f"Cannot read file {path!r} from queue.") from exc
            payload = self._readable(raw)
            if payload is None:
                log.error(
                    "dropped unreadable broker message %s (%d bytes): %r", filename, len(raw), raw[:200]
                )
                continue
            return payload
        raise Empty()

    def _readable(self, raw: bytes) -> Any:
        """The payload when it makes a message, else None."""
        try:
            payload = loads(bytes_to_str(raw))
            if not isinstance(payload, dict) or not isinstance(payload.get("properties"), dict):
                return None
            self.Message(payload, channel=self)  # decodes the body and reads the delivery tag
        except Exception:
            return None
        return payload


class Transport(filesystem.Transport):
    Channel = Channel

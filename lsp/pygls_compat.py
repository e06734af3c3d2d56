"""The pygls internals the language server relies on, in one place to check when pygls changes.

Checked against pygls 2.1.1, where `pygls.protocol.json_rpc.JsonRPCProtocol` has no public way
to do either of these:

- `_handle_cancel_notification(msg_id)` is the only place a `$/cancelRequest` is seen before
  pygls cancels the request's task. `CancelAwareProtocol` hooks it (and reads `_server`) so that a
  fix cancelled in the editor is cancelled on the repomend server too. Should pygls rename it,
  cancelling stops only the editor's wait and the repair runs to its end on the server.
- `_request_futures` maps the requests still being answered to their futures. `pending_request`
  reads it so that shutdown answers the running fixes itself: after the shutdown handler pygls
  cancels pending requests while iterating that very table, which cancelling shrinks. Should
  pygls rename it, shutdown fails with an AttributeError while fixes are running.
- `LanguageServerProtocol._workspace` is set only by the `initialize` request.
  `open_workspace_without_client` sets it so that a benchmark can call the handlers in-process,
  with no client; the server itself never uses it.
"""

from __future__ import annotations

from concurrent.futures import Future
from typing import Any, Protocol, runtime_checkable

from pygls.protocol import JsonRPCProtocol, LanguageServerProtocol
from pygls.protocol.json_rpc import MsgId
from pygls.workspace import Workspace


@runtime_checkable
class CancelListener(Protocol):
    def request_cancelled(self, msg_id: MsgId) -> None: ...


class CancelAwareProtocol(LanguageServerProtocol):
    """Tells its server, when it is a `CancelListener`, that the editor cancelled a request."""

    def _handle_cancel_notification(self, msg_id: MsgId) -> None:
        if isinstance(listener := self._server, CancelListener):
            listener.request_cancelled(msg_id)
        super()._handle_cancel_notification(msg_id)


def pending_request(protocol: JsonRPCProtocol, msg_id: MsgId) -> Future[Any] | None:
    """The future of the request `msg_id` while it is being answered."""
    return protocol._request_futures.get(msg_id)


def open_workspace_without_client(protocol: LanguageServerProtocol) -> Workspace:
    """An empty workspace, as `initialize` would make it, for calling handlers with no client."""
    protocol._workspace = Workspace(None)
    return protocol._workspace

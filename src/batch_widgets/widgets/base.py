"""Shared wiring for every panel: one JS bundle, a `_view` trait that picks the panel, and action messages.

The browser asks the kernel to act by sending ``{"action": NAME, ...}``; the message is routed to the method
``_on_<NAME>(self, msg, buffers)``. Handlers return at once and report back through traits (a custom message
sent before a view renders is lost), except file downloads which are sent as one message with a buffer.
"""

from __future__ import annotations

import logging
import pathlib
from typing import Any

import anywidget
import traitlets as t

_STATIC = pathlib.Path(__file__).resolve().parent.parent / "static"
log = logging.getLogger("batch_widgets")


class BatchWidgetBase(anywidget.AnyWidget):
    _esm = _STATIC / "widget.js"
    _css = _STATIC / "widget.css"

    #: Which panel the JS entry renders: "list", "details", "create", "history" or "dashboard".
    _view = t.Unicode("").tag(sync=True)
    #: A short message shown as a banner (refresh failures and the like); "" hides it.
    _banner = t.Unicode("").tag(sync=True)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.on_msg(self._dispatch_action)

    def _dispatch_action(self, _widget: Any, msg: Any, buffers: list[bytes]) -> None:
        if not isinstance(msg, dict) or not isinstance(msg.get("action"), str):
            return
        handler = getattr(self, f"_on_{msg['action']}", None)
        if handler is None:
            log.warning("batch_widgets: unknown widget action %r", msg["action"])
            return
        try:
            handler(msg, buffers)
        except Exception as exc:  # an error in a comm handler never reaches the notebook: show it instead
            log.exception("batch_widgets: action %r failed", msg["action"])
            self._banner = f"{msg['action']} failed: {exc}"

    def __repr__(self) -> str:  # stable, and never shows trait values (they could hold anything)
        return f"<{type(self).__name__}>"

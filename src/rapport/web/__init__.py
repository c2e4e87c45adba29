"""The server-rendered web UI (English and Simplified Chinese), mounted by the API app."""

from rapport.web.app import mount, rebind

__all__ = ["mount", "rebind"]

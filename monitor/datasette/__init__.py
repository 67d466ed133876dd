"""The monitor's Datasette plugin (``monitor serve``): registered by ``monitor.serve``, not
through an entry point, so a plain ``datasette`` run elsewhere never loads it.

This package is the plugin module: Datasette serves its ``static/`` folder under
``/-/static-plugins/monitor.datasette/`` and finds its ``templates/``. The hooks live in
:mod:`.plugin`, the metadata and canned queries in :mod:`.metadata`, the base map in :mod:`.geo`.
"""

from .plugin import (
    asgi_wrapper,
    attach,
    extra_js_urls,
    menu_links,
    prepare_connection,
    register_routes,
)

__all__ = ["asgi_wrapper", "attach", "extra_js_urls", "menu_links", "prepare_connection",
           "register_routes"]

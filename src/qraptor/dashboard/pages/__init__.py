"""One module per page: `layout(sources, ...)` builds it, `register(app, sources)` adds its
callbacks. The router in app.py maps paths to layouts."""

"""The ASGI worker class gunicorn runs (kapflow.config.gunicorn).

uvicorn's gunicorn worker, with Django's needs: no lifespan protocol (Django's ASGI handler
does not speak it) and no uvicorn access log (its lines carry the path, and paths carry
record ids; kapflow logs `http.request` with the route name instead). uvicorn 0.55 marks
`uvicorn.workers` deprecated in favour of the separate uvicorn-worker package, which is the
same class; the warning is silenced here rather than adding a dependency for it.
"""

import warnings

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", category=DeprecationWarning, module="uvicorn.workers")
    warnings.filterwarnings("ignore", message="The `uvicorn.workers` module is deprecated")
    from uvicorn.workers import UvicornWorker as _UvicornWorker


# WhiteNoise hands Django a file iterator that is not async; under ASGI Django reads it in a
# thread and warns on every static file. That is the cost of serving /static/ from the app
# (a TLS proxy or CDN in front can cache them; docs/deploy.md), not a fault to log each time.
warnings.filterwarnings(
    "ignore", message="StreamingHttpResponse must consume synchronous iterators"
)


class UvicornWorker(_UvicornWorker):
    CONFIG_KWARGS = {"loop": "auto", "http": "auto", "lifespan": "off", "access_log": False}

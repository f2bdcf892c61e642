"""The API's interactive docs (/api/v1/docs): Swagger UI from our own static files.

django-ninja's default page loads Swagger UI from a CDN, which the content security policy
(script-src 'self') blocks. swagger-ui-dist comes from npm (package-lock.json) and is copied
into static/vendor/swagger-ui/ by `make assets`, like htmx and Pico (decision 0039). The
page has no inline script: the settings travel as JSON and static/kapflow/api-docs.js
starts Swagger UI with them.
"""

from django.shortcuts import render
from ninja.openapi.docs import Swagger, _csrf_needed


class LocalSwagger(Swagger):
    """Swagger UI served from /static/, with nothing fetched from another origin."""

    template = "api/docs.html"
    default_settings = {
        "layout": "BaseLayout",
        "deepLinking": True,
        # Swagger UI would otherwise load a badge from validator.swagger.io.
        "validatorUrl": None,
    }

    def render_page(self, request, api, **kwargs):
        self.settings["url"] = self.get_openapi_url(api, kwargs)
        context = {
            # Rendered with json_script, which escapes what could close the <script>.
            "swagger_settings": dict(self.settings),
            "api": api,
            "add_csrf": _csrf_needed(api),
        }
        return render(request, self.template, context)

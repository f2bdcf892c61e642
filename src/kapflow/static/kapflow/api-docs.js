// Starts Swagger UI on the API docs page (kapflow.core.api_docs) with the settings the page
// carries as JSON: no inline script, so the content security policy stays strict.
document.addEventListener("DOMContentLoaded", () => {
  const config = JSON.parse(document.getElementById("swagger-settings").textContent);
  const csrfToken = document.body.dataset.csrfToken;
  config.dom_id = "#swagger-ui";
  config.presets = [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset];
  if (csrfToken) {
    // "Try it out" with the browser session: the API checks CSRF like the pages do.
    config.requestInterceptor = (request) => {
      request.headers["X-CSRFToken"] = csrfToken;
      return request;
    };
  }
  window.ui = SwaggerUIBundle(config);
});

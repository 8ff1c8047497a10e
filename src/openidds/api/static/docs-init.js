// Starts Swagger UI on /api/v1/docs. A file, not an inline script, so the page's CSP can refuse every inline script.
(function () {
  "use strict";
  var root = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: root.dataset.openapiUrl,
    dom_id: "#swagger-ui",
    layout: "BaseLayout",
    presets: [SwaggerUIBundle.presets.apis],
    deepLinking: true,
    // The default would send the schema to validator.swagger.io: nothing leaves the clinic.
    validatorUrl: null,
    // A bearer token kept in localStorage would outlive the session on a shared workstation.
    persistAuthorization: false,
  });
})();

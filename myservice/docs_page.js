// Starts Swagger UI on the service's OpenAPI document, whose URL the page gives (under the root path).
// A file of its own, not an inline script, so that the page's Content-Security-Policy allows none.
window.addEventListener("load", () => {
  const element = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: element.dataset.url,
    domNode: element,
    deepLinking: true,
    layout: "BaseLayout",
    presets: [SwaggerUIBundle.presets.apis],
    showExtensions: true,
    showCommonExtensions: true,
    displayOperationId: true, // the handler's name, which a generated client calls
    validatorUrl: null, // its badge would send the document to validator.swagger.io
  });
});

// Starts Swagger UI on the generated OpenAPI document (kept out of the page for a strict CSP).
window.addEventListener("load", function () {
  window.ui = SwaggerUIBundle({ url: "/openapi.json", dom_id: "#swagger-ui", deepLinking: true });
});

// Deployment settings, read before the app starts. Edit this file on a static
// host to point at wherever the published maps live (relative to this folder,
// or an absolute URL with CORS enabled). `?data=<path>` overrides it per page
// (same origin only).
window.CVIZ_CONFIG = {
  dataBase: 'data/',
};

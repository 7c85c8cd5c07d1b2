"""One module per API resource; each exposes ROUTES for api.routes."""

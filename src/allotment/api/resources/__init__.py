"""One module per API resource; api/routes.py maps paths to them."""

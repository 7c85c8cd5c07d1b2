"""HTTP layer: app factory, middleware, routes, microversions, errors."""

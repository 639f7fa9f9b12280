"""Route modules; each exposes ROUTES (a list of api.routing.Route)."""

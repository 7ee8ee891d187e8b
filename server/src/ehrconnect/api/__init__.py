"""HTTP plumbing shared by the JSON API routers: context, auth dependency, middleware, handlers."""

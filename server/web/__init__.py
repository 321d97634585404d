"""HTTP plumbing: templates, static files, middleware, error pages, forms."""

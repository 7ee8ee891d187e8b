"""API keys -> AuthContext(organization, environment); per-key rate limits."""

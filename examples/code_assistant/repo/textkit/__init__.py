"""textkit: small text utilities (the code assistant's sample repository)."""

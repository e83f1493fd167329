"""Identity: personal-ID checks, Vietnamese name normalisation, probabilistic matching and
the person table (issue 5, docs/identity.md)."""

"""mer_utils: the shared utility package of the numbered notebooks (see README.md)."""

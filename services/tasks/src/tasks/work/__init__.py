"""The slow work: one module per kind. The worker imports every module of this package."""

"""engagectl: customer audiences, computed traits and journeys kept as code."""

__version__ = "0.1.0"

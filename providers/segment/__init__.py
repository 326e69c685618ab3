"""`segment`: Identify/Track forwarded to any collector speaking Segment's HTTP Tracking API."""

from providers.segment.provider import SegmentProvider as PROVIDER

__all__ = ["PROVIDER"]

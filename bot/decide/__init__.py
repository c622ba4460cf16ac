"""Deciding: cases from unhappy mentions (``cases``), the policy and its guards (``policy``)."""

"""Deciding: cases from unhappy mentions (``cases``), the policy, its rules and guards (``policy``), how a
buyer describes a defect (``defects``), and what staff decide (``staff``: approve, reject, expire, list)."""

"""Audits of data larger than memory: partitioned sources, one streaming pass, mergeable tallies."""

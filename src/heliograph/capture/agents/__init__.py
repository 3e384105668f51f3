"""Coding-agent exporters: turn what an agent records about its own work into records.

Each agent module reads the agent's own data (Claude Code's session transcripts,
OpenCode's events), groups it into Helicone Sessions with stable ids, and derives every
request id from the agent's ids, so re-reading the same data never makes a duplicate.
Records pass through a ``heliograph.privacy.PrivacyFilter`` before they are handed on.
"""

"""The CI failure agent: GitHub Actions events, healing by class, triage, health figures."""

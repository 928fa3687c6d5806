"""Diagnose: match alerts to known patterns; explain and classify CI failures."""

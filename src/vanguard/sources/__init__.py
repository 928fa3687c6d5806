"""Sources: metric scraping, Prometheus queries, webhooks, replay."""

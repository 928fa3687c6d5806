"""Engine: Temporal workflows, activities, worker, client and the embedded dev server."""

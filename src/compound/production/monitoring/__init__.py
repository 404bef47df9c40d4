"""Monitoring a served system: Prometheus metrics (:mod:`.metrics`), rollups over time for the
dashboard (:mod:`.rollups`), drift statistics and checks (:mod:`.drift`,
:mod:`.drift_monitor`), online quality (:mod:`.quality`), and the per-process hub feeding
them all (:mod:`.monitor`)."""

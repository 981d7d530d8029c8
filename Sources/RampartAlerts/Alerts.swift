import RampartModel

/// AlertRule evaluation and ContactPoint delivery live here; filled by the alerts issue.
public enum AlertsModule {}

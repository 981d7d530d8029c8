import RampartModel

/// Manifest sources (dir, git, kubernetes) live here.
public enum SourcesModule {}

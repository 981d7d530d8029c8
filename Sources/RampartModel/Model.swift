import RampartYAML
/// placeholder
public enum ModelModule {}

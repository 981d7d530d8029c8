/// placeholder
public enum YAMLModule {}

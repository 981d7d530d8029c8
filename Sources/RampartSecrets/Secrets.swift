import RampartModel

/// SecretRef resolution (vault, aws, kubernetes, env, file) lives here; filled by the secrets issue.
public enum SecretsModule {}

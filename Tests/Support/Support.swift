/// Test helpers shared by test targets.
public enum TestSupport {}

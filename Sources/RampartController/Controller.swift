import RampartModel

/// The reconcile loop lives here.
public enum ControllerModule {}

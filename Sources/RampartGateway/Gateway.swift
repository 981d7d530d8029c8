/// The embedded data plane lives here.
public enum GatewayModule {}

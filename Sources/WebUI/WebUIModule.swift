import Triggers

/// Placeholder for the server-rendered web UI.
public enum WebUIModule {}

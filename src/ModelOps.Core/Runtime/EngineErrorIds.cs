namespace ModelOps.Core.Runtime;

/// <summary>Stable error ids raised by the managed engine (planning, feeding, running).</summary>
public static class EngineErrorIds
{
    /// <summary>The graph uses ops the engine has no kernel for (all listed at once, before any run).</summary>
    public const string UnsupportedOps = "UnsupportedOps";

    /// <summary>A feed names something that is not an input (placeholder) of the graph.</summary>
    public const string UnknownInput = "UnknownInput";

    /// <summary>A feed's dtype differs from the placeholder's.</summary>
    public const string InputDTypeMismatch = "InputDTypeMismatch";

    /// <summary>A feed's shape is incompatible with the placeholder's declared shape.</summary>
    public const string InputShapeMismatch = "InputShapeMismatch";

    /// <summary>A placeholder the requested outputs need was not fed.</summary>
    public const string MissingInput = "MissingInput";

    /// <summary>A requested output was not produced (dead branch of a cond, or never reached).</summary>
    public const string OutputNotComputed = "OutputNotComputed";

    /// <summary>A requested output index does not exist on its node.</summary>
    public const string UnknownOutput = "UnknownOutput";

    /// <summary>A kernel failed in a way that is not a ModelOpsException (wrapped with the node's name).</summary>
    public const string KernelFailed = "KernelFailed";

    /// <summary>The session was used after Dispose.</summary>
    public const string SessionDisposed = "SessionDisposed";

    /// <summary>A run needs a constant whose value the session released from its graph (<see cref="Ops.EngineOptions.ReleaseGraphConstants"/>).</summary>
    public const string ConstantReleased = "ConstantReleased";
}

namespace ModelOps.Core.Converters.Onnx;

/// <summary>Stable error ids of the ONNX converter and the ONNX Runtime engine.</summary>
public static class OnnxErrorIds
{
    /// <summary>The graph holds ops without an ONNX lowering; the message lists them with their counts.</summary>
    public const string UnsupportedOps = "UnsupportedOps";
    /// <summary>The requested opset is outside what the converter supports.</summary>
    public const string InvalidOpset = "InvalidOpset";
    /// <summary>A node's lowering could not handle this node (attribute value, non-constant operand ...); names the node.</summary>
    public const string LoweringFailed = "OnnxLoweringFailed";
    /// <summary>A tensor dtype ONNX (or ModelOps' ONNX reader) cannot hold.</summary>
    public const string UnsupportedDataType = "OnnxUnsupportedDataType";
    /// <summary>ONNX Runtime refused to load the model (invalid graph, unknown op ...).</summary>
    public const string ModelRejected = "OnnxRuntimeRejectedModel";
    /// <summary>ONNX Runtime failed while running the model.</summary>
    public const string RunFailed = "OnnxRuntimeRunFailed";
    /// <summary>The file is not a valid ONNX model.</summary>
    public const string InvalidOnnx = "InvalidOnnxModel";
}

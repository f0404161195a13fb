namespace ModelOps.Core.Formats;

/// <summary>The kinds of model file ModelOps reads.</summary>
public enum ModelFormat
{
    GraphDef,
    MetaGraphDef,
    SavedModel,
    Checkpoint,
    TfLite,
    Onnx,
    OpList,
}

/// <summary>How a protobuf file is encoded on disk.</summary>
public enum ProtoEncoding
{
    Binary,
    Text,
}

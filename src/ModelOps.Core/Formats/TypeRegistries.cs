using Google.Protobuf.Reflection;
using ModelOps.Core.Protos;

namespace ModelOps.Core.Formats;

/// <summary>Type registries for google.protobuf.Any values found in TensorFlow files.</summary>
public static class TypeRegistries
{
    public static TypeRegistry TensorFlow { get; } = TypeRegistry.FromFiles(
        MetaGraphReflection.Descriptor, GraphReflection.Descriptor, SavedObjectGraphReflection.Descriptor,
        SaverReflection.Descriptor, TensorReflection.Descriptor, StructReflection.Descriptor,
        TrackableObjectGraphReflection.Descriptor, VariableReflection.Descriptor);
}

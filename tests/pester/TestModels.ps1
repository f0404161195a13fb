# Builds the tiny frozen graphs the Pester tests run, with ModelOps' own GraphBuilder (loaded with the module).
function New-TestGraphFile {
    param([Parameter(Mandatory)] [string] $Path, [Parameter(Mandatory)] [scriptblock] $Build)
    $b = [ModelOps.Core.Graph.GraphBuilder]::new()
    & $Build $b
    [System.IO.File]::WriteAllBytes($Path, [Google.Protobuf.MessageExtensions]::ToByteArray($b.Graph))
    $Path
}

function New-AttrMap([hashtable] $Attrs) {
    $d = [System.Collections.Generic.Dictionary[string, ModelOps.Core.Protos.AttrValue]]::new()
    foreach ($k in $Attrs.Keys) { $d[$k] = $Attrs[$k] }
    , $d
}

# x: float32[?,3] → reversed = ReverseV2(x, axis 1), positive = Greater(x, 0)
function New-ReverseModel([string] $Path) {
    New-TestGraphFile -Path $Path -Build {
        param($b)
        $f = [ModelOps.Core.Protos.DataType]::DtFloat
        $null = $b.Placeholder('x', $f, [long[]](-1, 3))
        $null = $b.Const('axis', [ModelOps.Core.Tensors.Tensor]::Create([int[]](1), [int[]](1)))
        $null = $b.Const('zero', [ModelOps.Core.Tensors.Tensor]::Scalar([float]0))
        $null = $b.Add('reversed', 'ReverseV2', [string[]]('x', 'axis'), $null)
        $null = $b.Add('positive', 'Greater', [string[]]('x', 'zero'), $null)
    }
}

# a: int32 scalar, b: int64[2] → pair = Pack(Cast(a, int64), b...) simplified as ConcatV2 of ExpandDims(Cast(a)) and b
function New-TwoInputModel([string] $Path) {
    New-TestGraphFile -Path $Path -Build {
        param($b)
        $null = $b.Placeholder('a', [ModelOps.Core.Protos.DataType]::DtInt32, [long[]]@())
        $null = $b.Placeholder('b', [ModelOps.Core.Protos.DataType]::DtInt64, [long[]](2))
        $null = $b.Add('a64', 'Cast', [string[]]('a'), (New-AttrMap @{ DstT = [ModelOps.Core.Graph.Attr]::Type([ModelOps.Core.Protos.DataType]::DtInt64) }))
        $null = $b.Const('zero', [ModelOps.Core.Tensors.Tensor]::Scalar([int]0))
        $null = $b.Add('a1', 'ExpandDims', [string[]]('a64', 'zero'), $null)
        $null = $b.Add('joined', 'ConcatV2', [string[]]('a1', 'b', 'zero'), $null)
    }
}

function New-UnsupportedModel([string] $Path) {
    New-TestGraphFile -Path $Path -Build {
        param($b)
        $null = $b.Placeholder('x', [ModelOps.Core.Protos.DataType]::DtFloat, [long[]]@())
        $null = $b.Add('f1', 'FancyOp', [string[]]('x'), $null)
        $null = $b.Add('f2', 'FancyOp', [string[]]('f1'), $null)
    }
}

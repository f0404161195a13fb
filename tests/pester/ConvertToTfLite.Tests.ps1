BeforeAll {
    $repo = Resolve-Path (Join-Path $PSScriptRoot '../..')
    Import-Module (Join-Path $repo 'ModelOps.psd1') -Force
    $script:work = Join-Path ([IO.Path]::GetTempPath()) ("modelops-tflite-" + [guid]::NewGuid().ToString('N').Substring(0, 8))
    New-Item -ItemType Directory -Path $work | Out-Null
    # The frozen image classifier the project writes itself (Conv2D+BiasAdd+Relu, MaxPool, Reshape, MatMul+BiasAdd, Softmax).
    $script:cnn = [ModelOps.Core.Samples.SampleModels]::WriteFrozenCnn((Join-Path $work 'cnn.pb'), $false)

    # A graph with an op TFLite has no builtin for (Erf), with its output shape recorded.
    function script:New-ErfGraph([string] $path) {
        $b = [ModelOps.Core.Graph.GraphBuilder]::new(1882)
        $null = $b.Placeholder('x', [ModelOps.Core.Protos.DataType]::DtFloat, [long[]]@(1, 4))
        $erf = $b.Op('erf', 'Erf', [ModelOps.Core.Protos.DataType]::DtFloat, [string[]]@('x'))
        $shapes = [ModelOps.Core.Protos.AttrValue]::new()
        $shapes.List = [ModelOps.Core.Protos.AttrValue+Types+ListValue]::new()
        $shapes.List.Shape.Add([ModelOps.Core.Tensors.TensorProtoCodec]::FromShape([long[]]@(1, 4)))
        $erf.Attr['_output_shapes'] = $shapes
        $null = $b.Op('y', 'Relu', [ModelOps.Core.Protos.DataType]::DtFloat, [string[]]@('erf'))
        [IO.File]::WriteAllBytes($path, [Google.Protobuf.MessageExtensions]::ToByteArray($b.Graph))
        $path
    }
}

AfterAll {
    Remove-Item -Recurse -Force $script:work -ErrorAction SilentlyContinue
}

Describe 'ConvertTo-TfLite' {
    It 'writes a TFL3 flatbuffer beside the input and reports ops, versions, inputs and outputs' {
        $r = ConvertTo-TfLite $cnn
        $r.Path | Should -Be (Join-Path $work 'cnn.tflite')
        $bytes = [IO.File]::ReadAllBytes($r.Path)
        $r.Bytes | Should -Be $bytes.Length
        [Text.Encoding]::ASCII.GetString($bytes, 4, 4) | Should -Be 'TFL3'
        $r.Quantization | Should -Be 'None'
        ($r.Ops | ForEach-Object { "$($_.Op)/$($_.Version)" }) | Should -Be @('CONV_2D/1', 'FULLY_CONNECTED/1', 'MAX_POOL_2D/1', 'RESHAPE/1', 'SOFTMAX/1')
        # BiasAdd and Relu are fused into CONV_2D / FULLY_CONNECTED: 5 ops for 9 TF compute nodes.
        $r.OperatorCount | Should -Be 5
        $r.Inputs[0].Name | Should -Be 'input'
        $r.Inputs[0].DType | Should -Be 'float32'
        $r.Inputs[0].ShapeSignature | Should -Be @(-1, 8, 8, 3)
        $r.Outputs[0].Name | Should -Be 'probabilities'
        $r.Accuracy | Should -BeNullOrEmpty
        $r.MinRuntimeVersion | Should -Be '1.5.0'
    }

    It 'binds Path from Export-FrozenGraph output on the pipeline' {
        $g = [ModelOps.Core.Samples.SampleModels]::WriteDense((Join-Path $work 'dense'), 3, 2, 7, $false)
        $frozen = Join-Path $work 'dense.frozen.pb'
        $r = Export-FrozenGraph -Graph $g -Checkpoint (Split-Path $g) -OutputNode y -OutputPath $frozen | ConvertTo-TfLite
        $r.Path | Should -Be (Join-Path $work 'dense.frozen.tflite')
        $r.Ops.Op | Should -Contain 'FULLY_CONNECTED'
        $r.Outputs[0].Name | Should -Be 'y'
    }

    It 'never overwrites without -Force, and -Force replaces the file' {
        $out = Join-Path $work 'exists.tflite'
        Set-Content -LiteralPath $out -Value 'keep me'
        { ConvertTo-TfLite $cnn -OutputPath $out -ErrorAction Stop } | Should -Throw -ErrorId 'OutputExists,ModelOps.PowerShell.Commands.ConvertToTfLiteCommand'
        Get-Content -LiteralPath $out | Should -Be 'keep me'
        $r = ConvertTo-TfLite $cnn -OutputPath $out -Force
        (Get-Item $out).Length | Should -Be $r.Bytes
    }

    It '-WhatIf writes nothing' {
        $out = Join-Path $work 'whatif.tflite'
        ConvertTo-TfLite $cnn -OutputPath $out -WhatIf | Should -BeNullOrEmpty
        Test-Path $out | Should -BeFalse
    }

    It 'Float16 stores half weights with DEQUANTIZE and reports accuracy against the float graph' {
        $f32 = ConvertTo-TfLite $cnn -OutputPath (Join-Path $work 'f32.tflite')
        $r = ConvertTo-TfLite $cnn -OutputPath (Join-Path $work 'f16.tflite') -Quantization Float16
        $r.Ops.Op | Should -Contain 'DEQUANTIZE'
        ($r.Ops | Where-Object Op -eq 'DEQUANTIZE').Version | Should -Be 3
        $r.Bytes | Should -BeLessThan $f32.Bytes
        $r.Accuracy.Count | Should -Be 1
        $r.Accuracy[0].Output | Should -Be 'probabilities'
        $r.Accuracy[0].SnrDb | Should -BeGreaterThan 40
        $r.MinRuntimeVersion | Should -Be '1.15.0'
    }

    It 'Dynamic keeps small weights float (fewer than 1024 elements) and reports accuracy' {
        $r = ConvertTo-TfLite $cnn -OutputPath (Join-Path $work 'dyn.tflite') -Quantization Dynamic
        # conv 108 and dense 320 weights are below TFLite's 1024-element threshold: nothing to quantize.
        $r.Ops.Op | Should -Not -Contain 'DEQUANTIZE'
        ($r.Ops | Where-Object Op -eq 'CONV_2D').Version | Should -Be 1
        $r.Accuracy[0].MaxAbsError | Should -Be 0
    }

    It 'names every op without a TFLite builtin in one error' {
        $erf = New-ErfGraph (Join-Path $work 'erf.pb')
        { ConvertTo-TfLite $erf -OutputPath (Join-Path $work 'erf.tflite') -ErrorAction Stop } |
            Should -Throw -ErrorId 'TfLiteUnsupportedOps,ModelOps.PowerShell.Commands.ConvertToTfLiteCommand' -ExpectedMessage '*Erf (x1)*-AllowCustomOps*'
        Test-Path (Join-Path $work 'erf.tflite') | Should -BeFalse
    }

    It '-AllowCustomOps writes the op as CUSTOM and warns that the runtime must provide it' {
        $erf = New-ErfGraph (Join-Path $work 'erf2.pb')
        $r = ConvertTo-TfLite $erf -OutputPath (Join-Path $work 'erf2.tflite') -AllowCustomOps -WarningVariable w -WarningAction SilentlyContinue
        $r.CustomOps | Should -Be @('Erf')
        "$w" | Should -BeLike '*Erf*runtime*'
        $r.Ops.Op | Should -Contain 'RELU'
    }

    It 'Int8 without -CalibrationData asks for representative inputs' {
        { ConvertTo-TfLite $cnn -OutputPath (Join-Path $work 'int8.tflite') -Quantization Int8 -ErrorAction Stop } |
            Should -Throw -ErrorId 'TfLiteCalibrationRequired,ModelOps.PowerShell.Commands.ConvertToTfLiteCommand'
        Test-Path (Join-Path $work 'int8.tflite') | Should -BeFalse
    }

    It 'Int8 -CalibrationData (a folder of .npy) writes a full-integer model with float edges and reports its accuracy' {
        $cal = Join-Path $work 'calibration'
        New-Item -ItemType Directory -Path $cal | Out-Null
        foreach ($seed in 11, 12, 13, 14) {
            [ModelOps.Core.Formats.Npy.NpyFile]::Write((Join-Path $cal "x$seed.npy"), [ModelOps.Core.Samples.SampleModels]::CnnInput(1, $seed), $false)
        }
        $r = ConvertTo-TfLite $cnn -OutputPath (Join-Path $work 'int8.tflite') -Quantization Int8 -CalibrationData $cal
        $r.Quantization | Should -Be 'Int8'
        ($r.Ops | Where-Object Op -eq 'CONV_2D').Version | Should -Be 3
        ($r.Ops | Where-Object Op -eq 'FULLY_CONNECTED').Version | Should -Be 4
        $r.Ops.Op | Should -Contain 'QUANTIZE'
        $r.Ops.Op | Should -Contain 'DEQUANTIZE'
        $r.Inputs[0].DType | Should -Be 'float32'
        $r.Outputs[0].DType | Should -Be 'float32'
        $r.Accuracy.Count | Should -Be 1
        $r.Accuracy[0].Samples | Should -Be 4
        $r.Accuracy[0].SnrDb | Should -BeGreaterThan 30
        # The file runs in the managed TFLite interpreter.
        $out = Invoke-TfInference -Model $r.Path -Input @{ input = [ModelOps.Core.Samples.SampleModels]::CnnInput(1, 11) }
        $out | Should -Not -BeNullOrEmpty
    }

    It 'Int8 with -InferenceInputType Int8 -InferenceOutputType UInt8 exposes quantized edges' {
        $x = [ModelOps.Core.Samples.SampleModels]::CnnInput(1, 11)
        $r = ConvertTo-TfLite $cnn -OutputPath (Join-Path $work 'int8io.tflite') -Quantization Int8 -CalibrationData $x -InferenceInputType Int8 -InferenceOutputType UInt8
        $r.Inputs[0].DType | Should -Be 'int8'
        $r.Outputs[0].DType | Should -Be 'uint8'
        $r.Outputs[0].Scale[0] | Should -Be ([float](1.0 / 256))
        $r.Outputs[0].ZeroPoint[0] | Should -Be 0
    }

    It 'Int8 -TargetRuntimeVersion takes a version and rejects anything else' {
        $x = [ModelOps.Core.Samples.SampleModels]::CnnInput(1, 11)
        $r = ConvertTo-TfLite $cnn -OutputPath (Join-Path $work 'int8v22.tflite') -Quantization Int8 -CalibrationData $x -TargetRuntimeVersion 2.2.0
        [version]$r.MinRuntimeVersion | Should -BeLessOrEqual ([version]'2.2.0')
        { ConvertTo-TfLite $cnn -OutputPath (Join-Path $work 'int8bad.tflite') -Quantization Int8 -CalibrationData $x -TargetRuntimeVersion 'newest' -ErrorAction Stop } |
            Should -Throw -ErrorId 'ParameterArgumentValidationError,ModelOps.PowerShell.Commands.ConvertToTfLiteCommand'
    }
}

BeforeAll {
    $root = Split-Path -Parent (Split-Path -Parent $PSScriptRoot)
    Import-Module (Join-Path $root 'ModelOps.psd1') -Force
    $script:work = Join-Path $TestDrive 'onnx'
    New-Item -ItemType Directory -Path $work | Out-Null
    $script:pb = [ModelOps.Core.Samples.SampleModels]::WriteFrozenCnn((Join-Path $work 'cnn.pb'), $false)
}

Describe 'ConvertTo-Onnx' {
    It 'writes <name>.onnx beside the graph and describes the conversion' {
        $r = ConvertTo-Onnx -Path $pb
        $r | Should -BeOfType ([ModelOps.Core.Converters.Onnx.OnnxExportInfo])
        $r.Path | Should -Be (Join-Path $work 'cnn.onnx')
        Test-Path $r.Path | Should -BeTrue
        $r.Opset | Should -Be 17
        $r.IrVersion | Should -Be 8
        $r.FileSize | Should -Be (Get-Item $r.Path).Length
        $r.TfNodeCount | Should -Be 14
        $r.OpHistogram['Conv'] | Should -Be 1
        $r.OpHistogram['Gemm'] | Should -Be 1
        $r.TransposesLeft | Should -BeLessThan $r.TransposesInserted
        "$($r.Inputs[0])" | Should -Be 'input:0 float32[?,8,8,3]'
        $r.Outputs[0].Name | Should -Be 'probabilities:0'
    }

    It 'is read back by Get-TfModel: opset, inputs with the symbolic batch, outputs, ops' {
        $out = Join-Path $work 'read-back.onnx'
        ConvertTo-Onnx $pb -OutputPath $out -Opset 13 | Out-Null
        $m = Get-TfModel $out
        $m.Format | Should -Be 'Onnx'
        $m.Details['Opset'] | Should -Be 13
        $m.Details['IrVersion'] | Should -Be 7
        "$($m.Inputs[0])" | Should -Be 'input:0 float32[?,8,8,3]'
        $m.Outputs.Name | Should -Be 'probabilities:0'
        $m.OpHistogram['Softmax'] | Should -Be 1
        $m.ParameterCount | Should -Be (108 + 4 + 320 + 5)
    }

    It 'takes the input as NCHW with -InputsAsNchw' {
        $out = Join-Path $work 'nchw.onnx'
        $r = ConvertTo-Onnx $pb -OutputPath $out -InputsAsNchw input
        $r.Inputs[0].Shape | Should -Be @(-1, 3, 8, 8)
    }

    It 'takes files from Get-ChildItem through the pipeline' {
        $dir = Join-Path $work 'pipe'
        New-Item -ItemType Directory -Path $dir | Out-Null
        Copy-Item $pb (Join-Path $dir 'a.pb'); Copy-Item $pb (Join-Path $dir 'b.pb')
        $all = Get-ChildItem $dir -Filter *.pb | ConvertTo-Onnx
        $all.Count | Should -Be 2
        (Get-ChildItem $dir -Filter *.onnx).Count | Should -Be 2
    }

    It 'does not overwrite without -Force, and does with it' {
        $out = Join-Path $work 'exists.onnx'
        Set-Content -LiteralPath $out -Value 'keep'
        { ConvertTo-Onnx $pb -OutputPath $out } | Should -Throw -ErrorId 'OutputExists*'
        Get-Content -LiteralPath $out | Should -Be 'keep'
        (ConvertTo-Onnx $pb -OutputPath $out -Force).FileSize | Should -BeGreaterThan 1000
    }

    It 'writes nothing under -WhatIf' {
        $out = Join-Path $work 'whatif.onnx'
        ConvertTo-Onnx $pb -OutputPath $out -WhatIf
        Test-Path $out | Should -BeFalse
    }

    It 'rejects an opset outside 13..21' {
        { ConvertTo-Onnx $pb -Opset 12 -OutputPath (Join-Path $work 'x.onnx') } | Should -Throw -ErrorId 'ParameterArgumentValidationError*'
    }

    It 'lists unsupported ops with counts and writes nothing' {
        $g = [ModelOps.Core.Samples.SampleModels]::FrozenCnn()
        foreach ($n in $g.Node) { if ($n.Op -eq 'Relu') { $n.Op = 'MadeUpOp' } }
        $bad = Join-Path $work 'bad.pb'
        [System.IO.File]::WriteAllBytes($bad, [Google.Protobuf.MessageExtensions]::ToByteArray($g))
        $err = $null
        try { ConvertTo-Onnx $bad -OutputPath (Join-Path $work 'bad.onnx') } catch { $err = $_ }
        $err.FullyQualifiedErrorId | Should -BeLike 'UnsupportedOps*'
        $err.Exception.Message | Should -Match 'MadeUpOp x1'
        Test-Path (Join-Path $work 'bad.onnx') | Should -BeFalse
    }

    It 'fails on a missing file with a stable error id' {
        { ConvertTo-Onnx (Join-Path $work 'missing.pb') } | Should -Throw -ErrorId 'FileNotFound*'
    }
}

Describe 'Invoke-TfInference -Engine OnnxRuntime' {
    BeforeAll {
        $script:x = [ModelOps.Core.Samples.SampleModels]::CnnInput(2, 11)
        $script:flat = [float[]] $x.Data
    }

    It 'runs a frozen graph converted in memory and agrees with the managed engine' {
        $managed = Invoke-TfInference $pb -Input @{ input = $flat } -Shape 2, 8, 8, 3
        $ort = Invoke-TfInference $pb -Input @{ input = $flat } -Shape 2, 8, 8, 3 -Engine OnnxRuntime -IntraOpThreads 1
        $ort.Name | Should -Be $managed.Name
        $ort.Shape | Should -Be @(2, 5)
        for ($i = 0; $i -lt 10; $i++) { [math]::Abs($ort.Data[$i] - $managed.Data[$i]) | Should -BeLessThan 1e-5 }
    }

    It 'runs an .onnx file directly, feeds by node or tensor name' {
        $onnx = Join-Path $work 'run.onnx'
        ConvertTo-Onnx $pb -OutputPath $onnx | Out-Null
        $a = Invoke-TfInference $onnx -Input @{ input = $flat } -Shape 2, 8, 8, 3 -Engine OnnxRuntime
        $b = Invoke-TfInference $onnx -Input @{ 'input:0' = $flat } -Shape 2, 8, 8, 3 -Engine OnnxRuntime -Output 'probabilities:0'
        $a.Data | Should -Be $b.Data
        ($a.Data[0..4] | Measure-Object -Sum).Sum | Should -BeGreaterThan 0.9999
    }

    It 'reports a model ONNX Runtime rejects with a stable error id' {
        $bad = Join-Path $work 'broken.onnx'
        $r = [ModelOps.Core.Converters.Onnx.OnnxConverter]::Convert([ModelOps.Core.Samples.SampleModels]::FrozenCnn(), $null)
        $r.Model.Graph.Node[0].OpType = 'NoSuchOp'
        [System.IO.File]::WriteAllBytes($bad, $r.ToByteArray())
        { Invoke-TfInference $bad -Input @{ input = $flat } -Shape 2, 8, 8, 3 -Engine OnnxRuntime } | Should -Throw -ErrorId 'OnnxRuntimeRejectedModel*'
    }
}
